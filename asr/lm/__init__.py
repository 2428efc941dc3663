"""Language models for shallow fusion and rescoring, on the acoustic model's own units.

  model.py   TransformerLM: decoder-only transformer over sentencepiece units (B, U) -> logits (B, U, V), with a
             key/value cache so a search step costs one token (the same blocks as the ASR decoder, no cross-attn)
  io.py      the self-contained LM file (`asr train-lm` writes it; loads with weights_only=True)
  arpa.py    word-level ARPA n-gram models (LibriSpeech's official 3/4-gram LMs; IRSTLM builds ours)
  irstlm.py  `asr build-ngram`: an ARPA file from text with Debian's IRSTLM
  hotwords.py  a prefix tree of phrases to bias the search towards (WeNet's context graph)

The scorers that put them into the beam search live in `asr.decoding.fusion`.
"""
