"""Usage:
    asr average exp/digits/checkpoints/*.ckpt --out exp/digits/model_avg.pt
    asr average --best 5 exp/digits/checkpoints --out exp/digits/model_avg.pt

Averages the model weights of several training checkpoints into one *model file* (what `asr transcribe`,
`asr evaluate` and `asr.load_model` take; not a checkpoint to resume from). With --best K the K checkpoints
with the best monitored score (val_wer in every recipe) are taken from the checkpoint callback's own record,
kept inside the folder's newest checkpoint, so file names don't matter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="checkpoint files, or one checkpoint folder with --best")
    parser.add_argument("--best", type=int, default=0, metavar="K",
                        help="average the K checkpoints with the best monitored score (val_wer)")
    parser.add_argument("--out", required=True, help="model file to write (for transcribe/evaluate), e.g. model.pt")


def run(args: argparse.Namespace) -> int:
    from asr.training.checkpoints import best_checkpoints, export  # torch loads only when the command runs

    paths = [Path(p) for p in args.paths]
    if args.best:
        if len(paths) != 1 or not paths[0].is_dir():
            raise UserError("--best takes one checkpoint folder, e.g. asr average --best 5 exp/run/checkpoints "
                            "--out model.pt")
        paths = best_checkpoints(paths[0], args.best)
    model = export(paths, args.out)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote model file {args.out} ({n / 1e6:.2f} M parameters): the average of {len(paths)} checkpoint(s): "
          f"{', '.join(p.name for p in paths)}")
    return 0
