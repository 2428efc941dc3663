"""Usage:
    .venv/bin/python tools/microbench.py attention --threads 2   # fused SDPA vs the explicit path, fp32 and bf16
    .venv/bin/python tools/microbench.py dropout --threads 2     # asr's CPU dropout vs F.dropout, mask builders

The component timings behind docs/performance.md's "what changed" tables (forward + backward, median of
--steps runs after 3 warm-up runs, milliseconds). `asr bench` times whole steps; this times the parts whose
implementation was chosen by measurement, so a reader can re-check the choice on their own CPU.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # asr from this checkout

from asr.model.attention import explicit_attention  # noqa: E402
from asr.model.dropout import dropout, random_words, scaled_mask  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def time_ms(fn: Callable[[], object], steps: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def attention(args: argparse.Namespace) -> None:
    B, H, T, dk = 16, 4, 75, 64  # a base training batch: 16 x 3 s after x4 subsampling
    mask = torch.ones(B, 1, 1, T, dtype=torch.bool)
    mask[0, ..., 60:] = False
    for name, dtype in DTYPES.items():
        q, k, v = (torch.randn(B, H, T, dk, dtype=dtype, requires_grad=True) for _ in range(3))
        for impl, fn in (("sdpa", lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
                         ("explicit", lambda: explicit_attention(q, k, v, mask)[0])):
            ms = time_ms(lambda: fn().float().sum().backward(), args.steps)
            print(f"attention {B}x{H}x{T}x{T} {name} {impl}: {ms:.2f} ms forward + backward")


def dropout_parts(args: argparse.Namespace) -> None:
    shape = (16, 74, 2048)  # a base feed-forward activation
    n = math.prod(shape)
    keep = random_words(n).view(shape) >= 2 * 3277 - 32768
    print(f"draws: {time_ms(lambda: random_words(n), args.steps):.2f} ms (SFC64, {n // 4} x 64 bits)")
    print(f"draws: {time_ms(lambda: torch.empty(n // 4, dtype=torch.int64).random_(), args.steps):.2f} ms "
          "(torch random_)")
    for name, dtype in DTYPES.items():
        s, z = torch.tensor(1.1, dtype=dtype), torch.tensor(0.0, dtype=dtype)
        print(f"mask {name}: torch.where {time_ms(lambda: torch.where(keep, s, z), args.steps):.2f} ms, "
              f"as integers {time_ms(lambda: scaled_mask(keep, 1.1, dtype), args.steps):.2f} ms")
        x = torch.randn(shape, dtype=dtype, requires_grad=True)
        ours = time_ms(lambda: dropout(x, 0.1, True).sum().backward(), args.steps)
        torch_ = time_ms(lambda: F.dropout(x, 0.1, True).sum().backward(), args.steps)
        print(f"dropout {'x'.join(map(str, shape))} {name}: asr {ours:.2f} ms, F.dropout {torch_:.2f} ms "
              "(forward + backward)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("attention", "dropout"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"attention": attention, "dropout": dropout_parts}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
