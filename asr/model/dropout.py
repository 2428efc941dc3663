"""Dropout whose random mask is cheap on the CPU.

`nn.Dropout` on the CPU draws one Mersenne-Twister number and one double per element (`bernoulli_`): in a
`base` training step on 2 threads that was 21% of the whole step (profile in docs/performance.md). Here one
64-bit draw from the same torch generator gives four 16-bit words, a quarter of the draws:

    keep = word >= 2k - 32768 (as signed int16),    P(keep) = 1 - k / 32768,    k = round(p * 32768)

`random_()` on int64 fills 63 bits (the sign bit stays 0), so each draw is shifted left by one: the top word
then holds 16 random bits and the bottom word 15 random bits over a zero, whose even values pass the same even
threshold with the same probability. p is thus rounded to a multiple of 1/32768 (0.1 -> 0.100006) and kept
values are scaled by 1 / P(keep), so the expected output equals the input exactly. Seeded by
`torch.manual_seed` like every other torch random draw. On other devices (CUDA's RNG is fast) it is
`F.dropout`.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_WORDS = 4  # 16-bit words per int64 draw
_RANGE = 32768  # the top word's 15 bits set the resolution of p


def keep_mask(shape: torch.Size, p: float) -> tuple[Tensor, float]:
    """A boolean mask of `shape` with P(True) = 1 - round(p * 32768) / 32768, and the scale for kept values."""
    n = math.prod(shape)
    k = round(p * _RANGE)
    draws = torch.empty(-(-n // _WORDS), dtype=torch.int64).random_().bitwise_left_shift_(1)  # bit 0 is 0
    keep = draws.view(torch.int16)[:n] >= 2 * k - _RANGE
    return keep.view(shape), _RANGE / (_RANGE - k)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Drop-in for `F.dropout(x, p, training)`: fast mask on the CPU, `F.dropout` elsewhere.

    The mask is made float (0 or the scale) before the product: one pass forward and one backward, ~8% faster
    than multiplying by the boolean mask and then the scale; it keeps 4 bytes per element for the backward.
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or round(p * _RANGE) >= _RANGE or sys.byteorder != "little":  # little-endian words
        return F.dropout(x, p, training)  # p that rounds to 1 drops everything, as F.dropout does
    keep, scale = keep_mask(x.shape, p)
    return x * torch.where(keep, scale, 0.0).to(x.dtype)


class Dropout(nn.Module):
    """Drop-in for `nn.Dropout` (no parameters, so checkpoints are unchanged) using `dropout` above."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
