"""Language models for shallow fusion and rescoring, on the acoustic model's own units.

  model.py   TransformerLM: decoder-only transformer over sentencepiece units (B, U) -> logits (B, U, V), with a
             key/value cache so a search step costs one token (the same blocks as the ASR decoder, no cross-attn)
  io.py      the self-contained LM file (`asr train-lm` writes it; loads with weights_only=True); `load_lm_for`
             refuses an LM of other units than the model's
  arpa.py    word-level ARPA n-gram models (LibriSpeech's official 3/4-gram LMs; IRSTLM builds ours)
  irstlm.py  `asr build-ngram`: an ARPA file from text with Debian's IRSTLM
  hotwords.py  a prefix tree of phrases to bias the search towards (WeNet's context graph), from a file or lines

The scorers that put them into the beam search are `asr.decoding.scorers` (lm.py, ngram.py, hotwords.py);
`asr.decoding.fusion` loads them from these files and picks and weights them.
"""
