"""Usage:
    asr validate-data data/tts-digits/train_cuts.jsonl.gz
    asr validate-data my_data/train.jsonl --sample-rate 16000 --max-duration 20
    asr validate-data my_data/train.jsonl --tokenizer-chars "abcdefghijklmnopqrstuvwxyz' "

Checks a manifest (lhotse cuts or NeMo JSON lines) and prints each problem as `MANIFEST:LINE: kind: message`,
then a one-line summary. Exit status 0 when clean, 1 when anything is wrong.
"""

from __future__ import annotations

import argparse

from asr.data.validate import DEFAULT_CHARS, KINDS, ValidationConfig, validate_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="lhotse *_cuts.jsonl(.gz) or NeMo .jsonl manifest")
    parser.add_argument(
        "--tokenizer-chars", default=DEFAULT_CHARS,
        help="characters the tokenizer can write (space always allowed); default: what normalise_text writes",
    )
    parser.add_argument(
        "--sample-rate", type=int, default=None,
        help="rate NeMo lines are expected at (lhotse cuts are checked against their own sampling_rate)",
    )
    parser.add_argument("--max-duration", type=float, default=None, help="report utterances longer than this (s)")
    parser.add_argument(
        "--max-chars-per-second", type=float, default=ValidationConfig.max_chars_per_second,
        help="report transcripts denser than this (default %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="read audio headers only (faster; misses corrupt data and silence)"
    )
    parser.epilog = "problem kinds: " + "; ".join(f"{k}: {v}" for k, v in KINDS.items())


def run(args: argparse.Namespace) -> int:
    cfg = ValidationConfig(
        allowed_chars=args.tokenizer_chars,
        sample_rate=args.sample_rate,
        max_duration=args.max_duration,
        max_chars_per_second=args.max_chars_per_second,
        decode=not args.quick,
    )
    report = validate_manifest(args.manifest, cfg)
    for line in report.lines():
        print(line)
    print(report.summary())
    return 0 if report.ok else 1
