"""Usage:
    asr tune-lm --model exp/tts-sentences/model.pt --lm exp/tts-sentences/lm.pt \\
        --manifest data/tts-sentences/dev_cuts.jsonl.gz
    asr tune-lm --model M --ngram data/lm/3-gram.arpa.gz --ngram-weights 0 0.2 0.4 --length-bonuses 0 1 2 \\
        --manifest dev.jsonl --limit 300

Decodes a dev set at every point of a grid of fusion weights (LM weight x n-gram weight x length bonus; only
the models given are varied) and prints WER and real-time factor per point, then the best point and the
`asr evaluate` flags that reproduce it. --limit takes a seeded random subset of the cuts for a quicker grid.
"""

from __future__ import annotations

import argparse
import random
import sys

from asr.commands import (add_compute_arguments, add_decode_arguments, apply_compute_arguments, decode_options,
                          fusion_files)
from asr.errors import UserError

LM_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)
LENGTH_BONUSES = (0.0, 0.5, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file from `asr export`")
    parser.add_argument("--manifest", required=True, action="append", help="dev manifest(s), lhotse or NeMo")
    parser.add_argument("--lm-weights", type=float, nargs="+", default=LM_WEIGHTS,
                        help=f"LM weights to try with --lm (default {' '.join(map(str, LM_WEIGHTS))})")
    parser.add_argument("--ngram-weights", type=float, nargs="+", default=LM_WEIGHTS,
                        help="n-gram weights to try with --ngram (default: as --lm-weights)")
    parser.add_argument("--length-bonuses", type=float, nargs="+", default=LENGTH_BONUSES,
                        help=f"length bonuses to try (default {' '.join(map(str, LENGTH_BONUSES))})")
    parser.add_argument("--limit", type=int, default=0, help="tune on this many cuts drawn at random (default: all)")
    add_decode_arguments(parser, batch_help="utterances decoded together")
    add_compute_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from asr.data.manifests import load_cuts
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model
    from asr.inference.tuning import grid, tune

    if not (args.lm or args.ngram):
        raise UserError("nothing to tune: give --lm FILE and/or --ngram FILE")
    apply_compute_arguments(args)
    cuts = load_cuts(args.manifest)
    if args.limit and args.limit < len(cuts):
        cuts = cuts.subset(cut_ids=random.Random(0).sample(sorted(cuts.ids), args.limit))
    model = load_model(args.model, args.device)
    opts = TranscribeOptions(decode=decode_options(args), batch_size=args.batch_size, word_timestamps=False,
                             precision=args.precision, **fusion_files(args))
    model.fusion(opts)  # load once, before the first point's clock
    points = grid(args.lm_weights if args.lm else [0.0], args.ngram_weights if args.ngram else [0.0],
                  args.length_bonuses)
    header = f"{'lm_weight':>9} {'ngram_weight':>12} {'length_bonus':>12} {'WER %':>7} {'errors':>7} {'RTF':>7}"
    print(f"{len(points)} points on {len(cuts)} cuts ({sum(c.duration for c in cuts) / 60:.1f} min of audio)")
    print(header)
    row = lambda p: (f"{p.lm_weight:>9g} {p.ngram_weight:>12g} {p.length_bonus:>12g} {100 * p.wer:>7.2f} "  # noqa: E731
                     f"{p.errors:>7d} {p.rtf:>7.4f}")
    with tqdm(total=len(points), unit="point", file=sys.stderr, disable=None, leave=False) as bar:
        ranked = tune(model, cuts, opts, points, on_point=lambda p: (tqdm.write(row(p)), bar.update(1)))
    best = ranked[0]
    flags = []
    if args.lm:
        flags.append(f"--lm {args.lm} --lm-weight {best.lm_weight:g}")
    if args.ngram:
        flags.append(f"--ngram {args.ngram} --ngram-weight {best.ngram_weight:g}")
    flags.append(f"--length-bonus {best.length_bonus:g}")
    print(f"best: {row(best).strip()}")
    print(f"use: asr evaluate --model {args.model} {' '.join(flags)} --manifest ...")
    return 0
