"""Usage:
    asr average exp/digits/checkpoints/*.ckpt --out exp/digits/model_avg.pt
    asr average --best 5 exp/digits/checkpoints --out exp/digits/model_avg.pt

Averages model weights of several checkpoints (the best k by validation WER with --best) into a model file.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from asr.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="checkpoint files, or one checkpoint folder with --best")
    parser.add_argument("--best", type=int, default=0, help="average the k checkpoints with the lowest val_wer")
    parser.add_argument("--out", required=True)


def best_k(folder: Path, k: int) -> list[Path]:
    """Checkpoints named with `val_wer=<x>` (as the recipes' ModelCheckpoint names them), lowest first."""
    scored = []
    for p in folder.glob("*.ckpt"):
        m = re.search(r"val_wer=([0-9.]+?)(?:\.ckpt|-)", p.name)
        if m:
            scored.append((float(m.group(1)), p))
    if not scored:
        raise UserError(f"no checkpoints named with val_wer=... in {folder}")
    return [p for _, p in sorted(scored)[:k]]


def run(args: argparse.Namespace) -> int:
    from asr.checkpoints import export  # torch loads only when the command runs

    paths = [Path(p) for p in args.paths]
    if args.best:
        if len(paths) != 1 or not paths[0].is_dir():
            raise UserError("--best takes one checkpoint folder")
        paths = best_k(paths[0], args.best)
    export(paths, args.out)
    print(f"wrote {args.out}: average of {len(paths)} checkpoint(s): {', '.join(p.name for p in paths)}")
    return 0
