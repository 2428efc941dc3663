"""Usage:
    asr validate-data data/tts-digits/train_cuts.jsonl.gz --tokenizer-kind word
    asr validate-data my_data/train.jsonl --sample-rate 16000 --max-duration 20
    asr validate-data my_data/train.jsonl --tokenizer-chars "abcdefghijklmnopqrstuvwxyz' "

Checks a manifest (lhotse cuts or NeMo JSON lines) and prints each problem as
`MANIFEST:LINE: error|warning: kind: message` (a kind found on more than five lines: its first three, then one
line that counts the rest and names their lines; --all prints every one), then a one-line summary that counts
both. Exit status 1 when
there is an error (with --strict: any problem), else 0: warnings are heuristics correct data trips too.
"""

from __future__ import annotations

import argparse

from asr.data.validate import DEFAULT_CHARS, KINDS, ValidationConfig, severity, validate_manifest
from asr.tokenizer import KINDS as TOKENIZER_KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="lhotse *_cuts.jsonl(.gz) or NeMo .jsonl manifest")
    parser.add_argument(
        "--tokenizer-chars", default=DEFAULT_CHARS,
        help="characters the tokenizer can write (space always allowed); default: what normalise_text writes",
    )
    parser.add_argument(
        "--tokenizer-kind", choices=TOKENIZER_KINDS, default=None,
        help="the tokenizer the data is for (the recipe's model.tokenizer.kind): 'word' counts words per second "
             "and reports every number written in digits; default: unknown (characters per second, and digits "
             "reported only where the corpus spells numbers as words elsewhere)",
    )
    parser.add_argument(
        "--sample-rate", type=int, default=None,
        help="rate NeMo lines are expected at (lhotse cuts are checked against their own sampling_rate)",
    )
    parser.add_argument("--max-duration", type=float, default=None, help="report utterances longer than this (s)")
    parser.add_argument(
        "--max-chars-per-second", type=float, default=ValidationConfig.max_chars_per_second,
        help="warn about transcripts denser than this many tokens (characters, or words with --tokenizer-kind "
             "word) per second (default %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="read audio headers only (faster; misses corrupt data and silence)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    parser.add_argument("--all", action="store_true",
                        help="print every problem (default: a kind on more than 5 lines shows 3 and a count)")
    parser.epilog = "problem kinds: " + "; ".join(f"{k} ({severity(k)}): {v}" for k, v in KINDS.items())


def run(args: argparse.Namespace) -> int:
    cfg = ValidationConfig(
        allowed_chars=args.tokenizer_chars,
        sample_rate=args.sample_rate,
        max_duration=args.max_duration,
        tokenizer_kind=args.tokenizer_kind,
        max_chars_per_second=args.max_chars_per_second,
        decode=not args.quick,
    )
    report = validate_manifest(args.manifest, cfg)
    for line in report.lines(per_kind=None if args.all else 5):
        print(line)
    print(report.summary())
    failed = report.errors or (args.strict and report.warnings)
    return 1 if failed else 0
