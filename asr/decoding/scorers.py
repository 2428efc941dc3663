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
Use: `beam_search(model, enc, enc_lens, opts, {**joint_scorers(...), **fusion.scorers(opts, device)})`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from asr.decoding.ctc_prefix import CTCPrefixScorer, CTCState
from asr.model.asr_model import ASRModel
from asr.model.decoder import DecoderCache
from asr.tokenizer import SOS_EOS


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


@dataclass(frozen=True)
class DecoderState:
    cache: DecoderCache
    total: Tensor  # (N,) cumulative decoder log-prob of each prefix


class DecoderScorer:
    """The attention decoder's log-probs, one cached decoder step per search step."""

    full, max_gain, proposes = True, 0.0, True

    def __init__(self, model: ASRModel, enc: Tensor, enc_lens: Tensor) -> None:
        self.model, self.enc, self.enc_lens = model, enc, enc_lens

    def init_state(self, utt: Tensor) -> DecoderState:
        cache = self.model.decoder.init_cache(self.enc, self.enc_lens)
        if not torch.equal(utt, torch.arange(self.enc.shape[0], device=utt.device)):
            cache = cache.select(utt)
        return DecoderState(cache, self.enc.new_zeros(utt.shape[0], dtype=torch.float32))

    def score(self, state: DecoderState, tokens: Tensor, cands: Tensor | None) -> Step:
        N, U = tokens.shape
        last = tokens[:, -1:] if U else tokens.new_full((N, 1), SOS_EOS)
        logp, cache = self.model.decoder.step(last, state.cache)  # (N, V)
        step = Step(state.total[:, None] + logp, state.total + logp[:, SOS_EOS], cache)
        return step if cands is None else step.gather(cands)

    def select(self, state: DecoderState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> DecoderState:
        return DecoderState(_select_cache(step.pending, row, same_rows), step.totals[row, col])


def _select_cache(cache: DecoderCache, row: Tensor, same_rows: bool) -> DecoderCache:
    """The decoder cache of the kept hypotheses. While no utterance leaves and the width stays, a row's new
    source row belongs to the same utterance, whose cross-attention keys/values and mask (per utterance, a
    large share of the cache) are then already in place: only the self-attention keys/values move."""
    if not same_rows:
        return cache.select(row)
    self_kv = [None if kv is None else (kv[0].index_select(0, row), kv[1].index_select(0, row)) for kv in cache.self_kv]
    return DecoderCache(self_kv, cache.cross_kv, cache.memory_mask)


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


def joint_scorers(model: ASRModel, enc: Tensor, enc_lens: Tensor, ctc_weight: float,
                  ctc_log_probs: Tensor | None = None) -> dict[str, tuple[Scorer, float]]:
    """The joint CTC/attention score: {"decoder": (1 - w), "ctc": w}; a scorer of weight 0 is left out."""
    scorers: dict[str, tuple[Scorer, float]] = {}
    if ctc_weight < 1:
        scorers["decoder"] = (DecoderScorer(model, enc, enc_lens), 1.0 - ctc_weight)
    if ctc_weight > 0:
        log_probs = model.ctc_log_probs(enc) if ctc_log_probs is None else ctc_log_probs
        scorers["ctc"] = (CTCScorer(log_probs, enc_lens), ctc_weight)
    return scorers
