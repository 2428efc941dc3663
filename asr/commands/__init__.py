"""Subcommands of `asr`: each module has `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import sys

from asr.hardware import native_bf16_cpu

SEARCHES = ("joint", "rescore")  # what `asr.api.TranscribeOptions.search` accepts; here, torch-free, for --help
PRECISIONS = ("fp32", "bf16")  # what `asr.api.TranscribeOptions.precision` accepts


def add_search_argument(parser: argparse.ArgumentParser) -> None:
    """--search and --precision, shared by `asr transcribe` and `asr evaluate`."""
    parser.add_argument("--search", default="joint", choices=SEARCHES,
                        help="joint: beam search on the joint CTC/attention score (default); rescore: CTC prefix "
                             "beam search, then the joint score picks among its --beam best (robust on long "
                             "segments)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="bf16: encoder and decoder matmuls in bfloat16 (torch.autocast), scores in fp32; "
                             "several times faster on CPUs with AVX512-BF16 or AMX and on GPUs (default fp32)")


def warn_if_precision_is_slow(args: argparse.Namespace) -> None:
    """One line on stderr when --precision bf16 would run slower than fp32 (a CPU that emulates bf16)."""
    if args.precision == "bf16" and args.device == "cpu" and not native_bf16_cpu():
        print("warning: this CPU has no native bf16 (AVX512-BF16 or AMX), so --precision bf16 is emulated and "
              "slower than fp32; leave it out here", file=sys.stderr)
