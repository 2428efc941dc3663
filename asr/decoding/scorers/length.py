"""A length bonus as a scorer: +1 per unit, against a language model's pull towards short outputs."""

from __future__ import annotations

import torch
from torch import Tensor

from asr.decoding.scorers.base import Step


class LengthBonus:
    """+1 per unit (weighted by `length_bonus`): counters the LM's pull towards short outputs."""

    full, max_gain, proposes = True, 1.0, False

    def __init__(self, vocab_size: int) -> None:
        self.V = vocab_size

    def init_state(self, utt: Tensor) -> Tensor:
        return torch.zeros(utt.shape[0], device=utt.device)

    def score(self, state: Tensor, tokens: Tensor, cands: Tensor | None) -> Step:
        width = self.V if cands is None else cands.shape[1]
        return Step((state + 1)[:, None].expand(-1, width), state)

    def select(self, state: Tensor, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> Tensor:
        return step.totals[row, col]

    def sequence_scores(self, seqs: list[list[int]]) -> list[float]:
        return [float(len(s)) for s in seqs]
