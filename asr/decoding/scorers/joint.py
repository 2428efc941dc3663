"""The joint CTC/attention score (Watanabe et al. 2017): the decoder and CTC scorers with their weights."""

from __future__ import annotations

from torch import Tensor

from asr.decoding.scorers.base import Scorer
from asr.decoding.scorers.ctc import CTCScorer
from asr.decoding.scorers.decoder import DecoderScorer
from asr.model.network import Network


def joint_scorers(model: Network, enc: Tensor, enc_lens: Tensor, ctc_weight: float,
                  ctc_log_probs: Tensor | None = None) -> dict[str, tuple[Scorer, float]]:
    """The joint CTC/attention score: {"decoder": (1 - w), "ctc": w}; a scorer of weight 0 is left out."""
    scorers: dict[str, tuple[Scorer, float]] = {}
    if ctc_weight < 1:
        scorers["decoder"] = (DecoderScorer(model, enc, enc_lens), 1.0 - ctc_weight)
    if ctc_weight > 0:
        log_probs = model.ctc_log_probs(enc) if ctc_log_probs is None else ctc_log_probs
        scorers["ctc"] = (CTCScorer(log_probs, enc_lens), ctc_weight)
    return scorers
