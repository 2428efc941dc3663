"""The named terms of the beam search's joint score (ESPnet's BatchScorerInterface idea, batched over rows).

A scorer keeps one state per row (N = utterances x hypotheses, all rows of the same length U: the search moves
in lock-step) and gives, for each row's candidate next tokens, the *cumulative* score of the prefix extended by
that token, and of the prefix ended by <eos>. The search adds the scorers' totals with their weights, keeps the
best rows and asks each scorer for the states of the kept (row, candidate) pairs. A language model, an n-gram or
a hotword tree is one more class with these three methods, not an edit to the beam loop.

  full scorers (`full = True`) score every token of the vocabulary, so they can propose candidates (decoder, LM);
  partial scorers score only the candidates they are given (CTC prefix scores cost T' per candidate).

A scorer states `max_gain`, the most its total can rise per token (0 for log-probabilities; a length or hotword
bonus > 0): the search stops an utterance once its best ended hypothesis can no longer be beaten, and bonuses
still to come widen that bound. `proposes`: a full scorer whose best tokens are the candidates partial scorers
score (the attention decoder); without one, every token is a candidate.

A fused scorer (`FusedScorer`: LM, n-gram, hotwords, length; picked by `asr.decoding.fusion`) also scores whole
sequences, for the rescoring search and the search-error check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor


@dataclass(frozen=True)
class Step:
    """One scorer's scores of one search step."""

    totals: Tensor  # (N, C) cumulative score of each prefix + candidate ((N, V) from a full scorer before gather)
    eos: Tensor  # (N,) cumulative score of each prefix + <eos>
    pending: Any = None  # what `select` needs to build the next states (decoder cache, CTC forward variables)
    per_token: Tensor | None = None  # (N, C) or (N, V): a state part per candidate, gathered with `totals`

    def gather(self, cands: Tensor) -> Step:
        """A full scorer's (N, V) totals (and per-token states) at the candidates (N, C)."""
        per_token = None if self.per_token is None else self.per_token.gather(1, cands)
        return Step(self.totals.gather(1, cands), self.eos, self.pending, per_token)


class Scorer(Protocol):
    full: bool
    max_gain: float  # most the total can rise per token
    proposes: bool  # its ranking picks the candidates of partial scorers

    def init_state(self, utt: Tensor) -> Any:
        """States of empty prefixes (<sos> only) for the utterances `utt` (N,) (rows of the encoder output)."""

    def score(self, state: Any, tokens: Tensor, cands: Tensor | None) -> Step:
        """tokens (N, U) decoded so far; cands (N, C) to score, or None for the whole vocabulary (full scorers)."""

    def select(self, state: Any, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> Any:
        """States of the kept prefixes tokens[row] + cands[row, col] (N',); `same_rows`: no row changed utterance
        and the width stayed, so per-utterance parts of the state can stay where they are."""


class FusedScorer(Scorer, Protocol):
    def sequence_scores(self, seqs: list[list[int]]) -> list[float]:
        """The total each whole sequence (U tokens each, <eos> included) reaches, as the search adds it up."""
