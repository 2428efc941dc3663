"""Language models for shallow fusion and rescoring, on the acoustic model's own units.

  model.py   TransformerLM: decoder-only transformer over sentencepiece units (B, U) -> logits (B, U, V), with a
             key/value cache so a search step costs one token (the same blocks as the ASR decoder, no cross-attn)
  io.py      the self-contained LM file (`asr train-lm` writes it; loads with weights_only=True); `load_lm_for`
             refuses an LM of other units than the model's
  arpa.py    word-level ARPA n-gram models in Python dicts (small files; IRSTLM builds ours)
  kenlm_lm.py  the same scores on KenLM: ARPA and KenLM binary files in bounded memory (LibriSpeech's 3/4-gram)
  ngram.py   `load_ngram`: the one loader for word n-gram files, picking the backend
  irstlm.py  `asr build-ngram`: an ARPA file from text with Debian's IRSTLM
  hotwords.py  a prefix tree of phrases to bias the search towards (WeNet's context graph), from a file or lines

The scorers that put them into the beam search are `asr.decoding.scorers` (lm.py, ngram.py, hotwords.py);
`asr.decoding.fusion` loads them from these files and picks and weights them.
"""
