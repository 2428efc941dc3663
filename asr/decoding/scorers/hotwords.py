"""A hotword prefix tree (`asr.lm.hotwords.ContextGraph`) as a scorer: a bonus per matched unit, taken back when
the match fails."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.scorers.base import Step
from asr.lm.hotwords import ContextGraph


@dataclass(frozen=True)
class HotwordState:
    node: Tensor  # (N,) node of the context graph each row is at
    banked: Tensor  # (N,) bonus of the phrases each row has completed


class HotwordScorer:
    """Bonuses of a `ContextGraph`: the score of a prefix is its completed phrases' bonuses plus the bonus of the
    partial match it is in, so a partial match that fails gives its bonus back."""

    full, proposes = True, False

    def __init__(self, graph: ContextGraph) -> None:
        self.graph = graph
        self.max_gain = graph.max_gain

    def init_state(self, utt: Tensor) -> HotwordState:
        N = utt.shape[0]
        return HotwordState(torch.zeros(N, dtype=torch.long, device=utt.device), torch.zeros(N, device=utt.device))

    def score(self, state: HotwordState, tokens: Tensor, cands: Tensor | None) -> Step:
        g = self.graph
        nxt = g.next[state.node]  # (N, V)
        totals = state.banked[:, None] + g.bank[state.node] + g.node_score[nxt]
        eos = state.banked + g.end_bank[state.node]
        step = Step(totals, eos, per_token=nxt)
        return step if cands is None else step.gather(cands)

    def select(self, state: HotwordState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> HotwordState:
        node = step.per_token[row, col]
        return HotwordState(node, step.totals[row, col] - self.graph.node_score[node])

    def sequence_scores(self, seqs: list[list[int]]) -> list[float]:
        return [self.graph.sequence_score(s) for s in seqs]
