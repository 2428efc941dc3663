"""Usage:
    .venv/bin/python tools/microbench.py attention --threads 2   # fused SDPA vs the explicit path, fp32 and bf16
    .venv/bin/python tools/microbench.py dropout --threads 2     # asr's CPU dropout vs F.dropout, mask builders

The component timings behind docs/performance.md's "what changed" tables (forward + backward, median of
--steps runs after 3 warm-up runs, milliseconds). `asr bench` times whole steps; this times the parts whose
implementation was chosen by measurement, so a reader can re-check the choice on their own CPU.

Output: one line per measurement, `<component>: <ms> ms`, optionally followed by ` (<note>)`; a component's name
has no colon and is printed once per run, so the lines read as a table and parse with one regular expression
(tests/test_bench.py does).
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


def report(component: str, ms: float, note: str = "") -> None:
    """Print one measurement in the documented form (see the module docstring)."""
    print(f"{component}: {ms:.2f} ms" + (f" ({note})" if note else ""))


def attention(args: argparse.Namespace) -> None:
    B, H, T, dk = 16, 4, 75, 64  # a base training batch: 16 x 3 s after x4 subsampling
    mask = torch.ones(B, 1, 1, T, dtype=torch.bool)
    mask[0, ..., 60:] = False
    for name, dtype in DTYPES.items():
        q, k, v = (torch.randn(B, H, T, dk, dtype=dtype, requires_grad=True) for _ in range(3))
        for impl, fn in (("sdpa", lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
                         ("explicit", lambda: explicit_attention(q, k, v, mask)[0])):
            ms = time_ms(lambda: fn().float().sum().backward(), args.steps)
            report(f"attention {B}x{H}x{T}x{T} {name} {impl}", ms, "forward + backward")


def dropout_parts(args: argparse.Namespace) -> None:
    shape = (16, 74, 2048)  # a base feed-forward activation
    n = math.prod(shape)
    keep = random_words(n).view(shape) >= 2 * 3277 - 32768
    words = f"{n // 4} x 64 bits"
    report("draws SFC64", time_ms(lambda: random_words(n), args.steps), words)
    report("draws torch random_", time_ms(lambda: torch.empty(n // 4, dtype=torch.int64).random_(), args.steps),
           words)
    for name, dtype in DTYPES.items():
        s, z = torch.tensor(1.1, dtype=dtype), torch.tensor(0.0, dtype=dtype)
        report(f"mask {name} torch.where", time_ms(lambda: torch.where(keep, s, z), args.steps))
        report(f"mask {name} as integers", time_ms(lambda: scaled_mask(keep, 1.1, dtype), args.steps))
        x = torch.randn(shape, dtype=dtype, requires_grad=True)
        size = "x".join(map(str, shape))
        report(f"dropout {size} {name} asr", time_ms(lambda: dropout(x, 0.1, True).sum().backward(), args.steps),
               "forward + backward")
        report(f"dropout {size} {name} F.dropout",
               time_ms(lambda: F.dropout(x, 0.1, True).sum().backward(), args.steps), "forward + backward")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("attention", "dropout"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if args.steps < 1 or args.threads < 1:
        parser.error("--steps and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    {"attention": attention, "dropout": dropout_parts}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
