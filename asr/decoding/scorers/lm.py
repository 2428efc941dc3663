"""A transformer LM over the model's units (`asr.lm.model`) as a scorer: shallow fusion, its key/value cache
reordered with the beam."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.scorers.base import Step
from asr.lm.model import LMCache, TransformerLM
from asr.tokenizer import SOS_EOS


@dataclass(frozen=True)
class LMState:
    cache: LMCache | None  # None before <sos> is fed
    total: Tensor  # (N,) cumulative LM log-prob of each prefix


class LMScorer:
    """A transformer LM's log-probs: one cached LM step per search step, as for the attention decoder."""

    full, max_gain, proposes = True, 0.0, False

    def __init__(self, lm: TransformerLM) -> None:
        self.lm = lm

    def init_state(self, utt: Tensor) -> LMState:
        return LMState(None, torch.zeros(utt.shape[0], device=utt.device))

    def score(self, state: LMState, tokens: Tensor, cands: Tensor | None) -> Step:
        N, U = tokens.shape
        last = tokens[:, -1:] if U else tokens.new_full((N, 1), SOS_EOS)
        logp, cache = self.lm.step(last, state.cache)  # (N, V)
        step = Step(state.total[:, None] + logp, state.total + logp[:, SOS_EOS], cache)
        return step if cands is None else step.gather(cands)

    def select(self, state: LMState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> LMState:
        return LMState(step.pending.select(row), step.totals[row, col])

    def sequence_scores(self, seqs: list[list[int]]) -> list[float]:
        return self.lm.sequence_log_prob(seqs).tolist()
