"""Subcommands of `asr`: each module has `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse

SEARCHES = ("joint", "rescore")  # what `asr.api.TranscribeOptions.search` accepts; here, torch-free, for --help


def add_search_argument(parser: argparse.ArgumentParser) -> None:
    """--search, shared by `asr transcribe` and `asr evaluate`."""
    parser.add_argument("--search", default="joint", choices=SEARCHES,
                        help="joint: beam search on the joint CTC/attention score (default); rescore: CTC prefix "
                             "beam search, then the joint score picks among its --beam best (robust on long "
                             "segments)")
