"""The attention decoder as a scorer: its log-probs, one cached decoder step per search step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.scorers.base import Step
from asr.model.network import Network
from asr.model.decoder import DecoderCache
from asr.tokenizer import SOS_EOS


@dataclass(frozen=True)
class DecoderState:
    cache: DecoderCache
    total: Tensor  # (N,) cumulative decoder log-prob of each prefix


class DecoderScorer:
    """The attention decoder's log-probs, one cached decoder step per search step."""

    full, max_gain, proposes = True, 0.0, True

    def __init__(self, model: Network, enc: Tensor, enc_lens: Tensor) -> None:
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
