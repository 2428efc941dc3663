"""The per-step rules every search shares: length limits, when <eos> is allowed or forced, the repetition
guard, and length normalisation.

Shapes: enc_lens (B,) encoder frames T' per utterance; tokens (N, U) with N = batch (x beam) rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.options import DecodeOptions


def normalised(log_prob: Tensor, num_tokens: int | Tensor, alpha: float) -> Tensor:
    """Length-normalised score; the length counts <eos>, so an empty hypothesis divides by 1."""
    return log_prob / (num_tokens + 1) ** alpha


@dataclass(frozen=True)
class LengthLimits:
    max_len: Tensor  # (B,) most tokens an utterance's hypotheses may have
    min_eos: Tensor  # (B,) fewest tokens before <eos> is allowed


def length_limits(enc_lens: Tensor, opts: DecodeOptions) -> LengthLimits:
    """Per-utterance limits from the encoder lengths (B,)."""
    if opts.suppress_eos_until is not None:
        exact = torch.full_like(enc_lens, opts.suppress_eos_until)
        return LengthLimits(exact, exact)
    # The epsilon keeps 0.3 * 10 = 3.0000000000000004 from becoming 4.
    max_len = torch.ceil(enc_lens.double() * opts.max_len_ratio - 1e-9).long().clamp(min=1)
    return LengthLimits(max_len, max_len.clamp(max=opts.min_len))


def repeating(tokens: Tensor, repeats: int, max_ngram: int) -> Tensor:
    """(N, U) -> (N,) True where the last n * repeats tokens are one n-gram repeated, for some n <= max_ngram."""
    N, U = tokens.shape
    out = torch.zeros(N, dtype=torch.bool, device=tokens.device)
    if repeats == 0:
        return out
    for n in range(1, min(max_ngram, U // repeats) + 1):
        tail = tokens[:, U - n * repeats :].reshape(N, repeats, n)
        out |= (tail == tail[:, :1]).all(dim=2).all(dim=1)
    return out


def eos_rules(tokens: Tensor, max_len: Tensor, min_eos: Tensor, opts: DecodeOptions) -> tuple[Tensor, Tensor]:
    """tokens (N, U) decoded so far and each row's limits (N,) -> (<eos> allowed (N,), <eos> forced (N,)).

    Forced implies allowed, because min_eos <= max_len.
    """
    U = tokens.shape[1]
    allowed = min_eos <= U
    forced = (max_len <= U) | (allowed & repeating(tokens, opts.max_repeats, opts.repeat_ngram))
    return allowed, forced


def ceil_int(x: float) -> int:
    return int(math.ceil(x - 1e-9))
