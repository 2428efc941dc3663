"""Usage:
    asr demo --out exp/demo
    asr demo --out exp/demo --train-minutes 3 --hours 1

Prepare tts-digits and FSDD, train the tiny model for a bounded time, evaluate on held-out TTS voices and the
FSDD test split, transcribe a held-out file and draw its attention. Offline; ~10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asr.demo import DemoConfig

    d = DemoConfig()
    parser.add_argument("--out", type=Path, default=d.out, help=f"output folder (default {d.out})")
    parser.add_argument("--data", type=Path, default=d.data, help=f"where corpora are prepared (default {d.data})")
    parser.add_argument("--hours", type=float, default=d.hours, help=f"hours of synthesised digits (default {d.hours})")
    parser.add_argument("--train-minutes", type=float, default=d.train_minutes,
                        help=f"training wall-clock budget (default {d.train_minutes})")
    parser.add_argument("--beam", type=int, default=d.beam)
    parser.add_argument("--ctc-weight", type=float, default=d.ctc_weight)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--seed", type=int, default=d.seed)


def run(args: argparse.Namespace) -> int:
    from asr.demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=args.out, data=args.data, hours=args.hours, train_minutes=args.train_minutes,
                        beam=args.beam, ctc_weight=args.ctc_weight, threads=args.threads, seed=args.seed))
    return 0
