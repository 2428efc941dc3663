"""Dropout whose random mask is cheap on the CPU.

`nn.Dropout` on the CPU draws one Mersenne-Twister number and one double per element (`bernoulli_`): in a
`base` training step on 2 threads that was 21% of the whole step (profile in docs/performance.md). Here each
16-bit word of a 64-bit draw decides one element:

    keep = word >= 2k - 32768 (as signed int16),    P(keep) = 1 - k / 32768

The 64-bit draws come from numpy's SFC64 (a small chaotic counter generator that passes BigCrush and
PractRand), seeded for each mask by one draw from torch's generator, so `torch.manual_seed` still fixes every
mask: ~2x faster than torch's Mersenne Twister (`random_`) and without its shift to fill the sign bit.
Kept values are scaled by 1 / P(keep), so the expected output equals the input:
- in fp32, k = round(p * 32768) (p = 0.1 -> 0.100006) and the scale is 32768 / (32768 - k);
- in bf16/fp16 (autocast), the mask is built in that dtype (one pass fewer), so the scale is first rounded to
  it (1 / 0.9 -> 1.109375 in bf16) and k is chosen for that scale (p = 0.1 -> 0.0986): the expectation stays
  exact to 1e-4 where rounding only the scale would bias every activation by -0.16%.
On other devices (CUDA's RNG is fast) it is `F.dropout`.
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_WORDS = 4  # 16-bit words per 64-bit draw
_RANGE = 32768  # P(keep) is a multiple of 1 / _RANGE
_BITS = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}  # same-width ints


@lru_cache(maxsize=64)  # called for every mask: the few (p, dtype) pairs of a model, computed once
def keep_probability(p: float, dtype: torch.dtype = torch.float32) -> tuple[int, float]:
    """(k, scale): P(keep) = 1 - k / 32768 and the kept values' scale, exactly representable in `dtype`."""
    if dtype == torch.float32:
        k = round(p * _RANGE)
        return k, _RANGE / (_RANGE - k)
    scale = torch.tensor(1.0 / (1.0 - p), dtype=dtype).item()  # 1/(1-p) rounded to dtype
    k = min(_RANGE - 1, max(0, round(_RANGE * (1.0 - 1.0 / scale))))
    return k, scale


def random_words(n: int) -> Tensor:
    """n uniformly random int16 (every bit random), from SFC64 seeded by torch's default generator."""
    seed = int(torch.empty((), dtype=torch.int64).random_())
    draws = np.random.SFC64(seed).random_raw(-(-n // _WORDS))  # uint64
    return torch.from_numpy(draws.view(np.int16)[:n])


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype = torch.float32) -> tuple[Tensor, float]:
    """A boolean mask of `shape` with P(True) from `keep_probability(p, dtype)`, and the scale for kept values."""
    k, scale = keep_probability(p, dtype)
    keep = random_words(math.prod(shape)) >= 2 * k - _RANGE
    return keep.view(shape), scale


def scaled_mask(keep: Tensor, scale: float, dtype: torch.dtype) -> Tensor:
    """keep (bool) -> `scale` where True and 0 elsewhere, in `dtype` (float32, bfloat16 or float16).

    Built as integers, 0 or 1 times the bit pattern of `scale`: the CPU's bool-to-float conversion and
    `torch.where` are not vectorised (B 16 x 74 x 2048: 1.0-1.5 ms against 0.07-0.13 ms this way)."""
    bits = _BITS[dtype]
    return keep.view(torch.uint8).to(bits).mul_(_bit_pattern(scale, dtype)).view(dtype)


@lru_cache(maxsize=64)
def _bit_pattern(value: float, dtype: torch.dtype) -> int:
    """`value` in `dtype`, read as the same-width integer."""
    return int(torch.tensor(value, dtype=dtype).view(_BITS[dtype]))


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Drop-in for `F.dropout(x, p, training)`: fast mask on the CPU, `F.dropout` elsewhere.

    The mask is made float in x's dtype (0 or the scale) before the product: one pass forward and one backward,
    ~8% faster than multiplying by the boolean mask and then the scale; it keeps one value per element for the
    backward.
    """
    if not training or p == 0.0:
        return x
    if (x.device.type != "cpu" or x.dtype not in _BITS or round(p * _RANGE) >= _RANGE
            or sys.byteorder != "little"):  # little-endian words
        return F.dropout(x, p, training)  # p that rounds to 1 drops everything, as F.dropout does
    keep, scale = keep_mask(x.shape, p, x.dtype)
    return x * scaled_mask(keep, scale, x.dtype)


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
