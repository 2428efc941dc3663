"""Subcommands of `asr`: each module has `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse

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
