"""The named terms of the beam search's joint score, one file each; the protocol they follow is in base.py.

  decoder.py   DecoderScorer  the attention decoder's log-probs     the joint CTC/attention pair:
  ctc.py       CTCScorer      CTC prefix scores (partial)           joint_scorers() (joint.py)
  lm.py        LMScorer       a transformer LM over the units       fused: picked, built from the loaded
  ngram.py     NgramScorer    a word ARPA n-gram, at word ends      models and weighted by
  hotwords.py  HotwordScorer  a hotword prefix tree's bonuses       asr.decoding.fusion (its SCORERS
  length.py    LengthBonus    +1 per unit                           registry)

Use: `beam_search(model, enc, enc_lens, opts, {**joint_scorers(...), **fusion.scorers(opts, device)})`.
"""

from asr.decoding.scorers.base import FusedScorer, Scorer, Step
from asr.decoding.scorers.ctc import CTCScorer
from asr.decoding.scorers.decoder import DecoderScorer, DecoderState
from asr.decoding.scorers.hotwords import HotwordScorer
from asr.decoding.scorers.joint import joint_scorers
from asr.decoding.scorers.length import LengthBonus
from asr.decoding.scorers.lm import LMScorer
from asr.decoding.scorers.ngram import NgramScorer

__all__ = ["CTCScorer", "DecoderScorer", "DecoderState", "FusedScorer", "HotwordScorer", "LMScorer", "LengthBonus",
           "NgramScorer", "Scorer", "Step", "joint_scorers"]
