"""CTC prefix scores as a (partial) scorer of the beam search."""

from __future__ import annotations

from torch import Tensor

from asr.decoding.ctc_prefix import CTCPrefixScorer, CTCState
from asr.decoding.scorers.base import Step


class CTCScorer:
    """CTC prefix scores (`CTCPrefixScorer`): the probability of every alignment that starts with the prefix."""

    full, max_gain, proposes = False, 0.0, False

    def __init__(self, log_probs: Tensor, enc_lens: Tensor) -> None:
        """log_probs (B, T', V) from the CTC head, enc_lens (B,)."""
        self.ctc = CTCPrefixScorer(log_probs, enc_lens)

    def init_state(self, utt: Tensor) -> CTCState:
        return self.ctc.initial_state(utt)

    def score(self, state: CTCState, tokens: Tensor, cands: Tensor | None) -> Step:
        if cands is None:
            raise ValueError("CTC prefix scores are partial: pass the candidates")
        ext = self.ctc.extend(state, cands)
        return Step(ext.psi, self.ctc.final(state), ext)

    def select(self, state: CTCState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> CTCState:
        return self.ctc.select(state, step.pending, row, col)
