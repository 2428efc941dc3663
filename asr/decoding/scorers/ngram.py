"""A word-level n-gram (`asr.lm.ngram`: ARPA dicts or KenLM) as a scorer: a word is scored when it is complete,
at the unit that starts the next word and at <eos>."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.scorers.base import Step
from asr.lm.ngram import WordNgram
from asr.tokenizer import WordUnits


@dataclass(frozen=True)
class NgramState:
    context: list[Hashable]  # per row: the n-gram state (context) of the words completed so far
    word: list[str]  # per row: the word being spelt (not yet scored)
    total: Tensor  # (N,) cumulative n-gram log-prob of the completed words


class NgramScorer:
    """Word n-gram log-probs added when a word is complete; partial: only the search's candidates are looked up
    (a dictionary lookup per row and candidate, cached)."""

    full, max_gain, proposes = False, 0.0, False

    def __init__(self, lm: WordNgram, units: WordUnits) -> None:
        self.lm, self.units = lm, units

    def init_state(self, utt: Tensor) -> NgramState:
        N = utt.shape[0]
        return NgramState([self.lm.start()] * N, [""] * N, torch.zeros(N, device=utt.device))

    def score(self, state: NgramState, tokens: Tensor, cands: Tensor | None) -> Step:
        N = len(state.word)
        cands = torch.arange(len(self.units.text), device=tokens.device).expand(N, -1) if cands is None else cands
        gains, nexts = [], []
        for n, row in enumerate(cands.tolist()):
            ctx, word = state.context[n], state.word[n]
            row_gain, row_next = [], []
            for c in row:
                if self.units.starts[c] and word:
                    logp, new_ctx = self.lm.score(ctx, word)
                    row_gain.append(logp), row_next.append((new_ctx, self.units.text[c]))
                else:
                    row_gain.append(0.0), row_next.append((ctx, word + self.units.text[c]))
            gains.append(row_gain), nexts.append(row_next)
        eos = [self._final(ctx, word) for ctx, word in zip(state.context, state.word)]
        gain = torch.tensor(gains, device=tokens.device)  # (N, C)
        return Step(state.total[:, None] + gain, state.total + torch.tensor(eos, device=tokens.device), nexts)

    def _final(self, ctx: Hashable, word: str) -> float:
        if not word:
            return self.lm.final(ctx)
        logp, ctx = self.lm.score(ctx, word)
        return logp + self.lm.final(ctx)

    def select(self, state: NgramState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> NgramState:
        picked = [step.pending[r][c] for r, c in zip(row.tolist(), col.tolist())]
        return NgramState([p[0] for p in picked], [p[1] for p in picked], step.totals[row, col])

    def sequence_scores(self, seqs: list[list[int]]) -> list[float]:
        return [self.lm.sentence_log_prob(self.units.words(s)) for s in seqs]
