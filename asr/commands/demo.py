"""Usage:
    asr demo --out exp/demo
    asr demo --out exp/demo --train-minutes 3 --hours 1
    asr demo --out exp/try --set model.optim.lr=0.003 --set data.max_duration=40   # tune the recipe
    asr demo --out exp/loso --holdout-speaker all     # each FSDD speaker left out in turn, mean WER
    asr demo --out exp/no-jackson --holdout-speaker jackson

Prepare tts-digits and FSDD, train the tiny model for a bounded time, evaluate on held-out TTS voices and the
FSDD test split, transcribe a held-out file and draw its attention. ~10 minutes on 2 CPU cores, offline when FSDD is
at --fsdd, $ASR_FSDD or ../shared/data/fsdd; else it downloads FSDD (12 MB) once into downloads/.

--holdout-speaker NAME trains without that FSDD speaker (nor their dev takes) and scores every one of their
takes: a person the model has never heard. `all` does so for each speaker in turn, writing
OUT/without-NAME/ per speaker and OUT/leave_one_speaker_out.json with each WER and the mean.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asr.demo import RECIPE, DemoConfig

    d = DemoConfig()
    parser.add_argument("--out", type=Path, default=d.out, help=f"output folder (default {d.out})")
    parser.add_argument("--data", type=Path, default=d.data, help=f"where corpora are prepared (default {d.data})")
    parser.add_argument("--hours", type=float, default=d.hours, help=f"hours of synthesised digits (default {d.hours})")
    parser.add_argument("--no-accents", dest="accents", action="store_false",
                        help="synthesised digits from English voices only (no respelled Italian, Czech, Finnish, "
                             "Russian or Catalan persons)")
    parser.add_argument("--train-minutes", type=float, default=d.train_minutes,
                        help=f"training wall-clock budget (default {d.train_minutes})")
    parser.add_argument("--beam", type=int, default=d.decode.beam, help=f"test-time beam (default {d.decode.beam})")
    parser.add_argument("--ctc-weight", type=float, default=d.decode.ctc_weight,
                        help=f"test-time CTC weight (default {d.decode.ctc_weight})")
    parser.add_argument("--threads", type=int, default=d.threads, help=f"CPU threads for torch (default {d.threads})")
    parser.add_argument("--device", default="cpu", choices=("cpu",),
                        help="the demo trains and scores on the CPU (its recipe is a CPU recipe)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--recipe", type=Path, default=None,
                        help=f"LightningCLI config to fit (default: the installed {RECIPE})")
    parser.add_argument("--fsdd", type=Path, default=None, metavar="DIR",
                        help="FSDD folder holding recordings/ (default: $ASR_FSDD or ../shared/data/fsdd, else FSDD "
                             "downloaded once into downloads/)")
    parser.add_argument("--holdout-speaker", metavar="NAME|all",
                        help="leave this FSDD speaker out of training and score all their takes; all: each in turn")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, as `asr fit --KEY VALUE` would (repeatable)")


def run(args: argparse.Namespace) -> int:
    from asr.demo import DemoConfig, run_demo, run_leave_one_out
    from asr.errors import UserError

    overrides: list[str] = []
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model.optim.lr=0.003")
        overrides += [f"--{key.removeprefix('--')}", value]
    if args.recipe is not None and not args.recipe.is_file():
        raise UserError(f"--recipe {args.recipe}: no such file; see recipes/tts/digits.yaml")
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    d = DemoConfig()
    cfg = DemoConfig(out=args.out, data=args.data, hours=args.hours, accents=args.accents,
                     train_minutes=args.train_minutes,
                     decode=replace(d.decode, beam=args.beam, ctc_weight=args.ctc_weight), threads=args.threads,
                     seed=args.seed, recipe=args.recipe, fsdd_root=args.fsdd, overrides=tuple(overrides))
    if args.holdout_speaker is None:
        run_demo(cfg)
        return 0
    from asr.corpora.fsdd import find_takes
    from asr.demo import fsdd_root

    root = fsdd_root(cfg)
    speakers = sorted({t.speaker for t in find_takes(root)})
    if args.holdout_speaker == "all":
        run_leave_one_out(replace(cfg, fsdd_root=root), speakers)
    elif args.holdout_speaker in speakers:
        run_demo(replace(cfg, fsdd_root=root, holdout_speaker=args.holdout_speaker))
    else:
        raise UserError(f"--holdout-speaker {args.holdout_speaker!r} is not an FSDD speaker here; choose one of "
                        f"{', '.join(speakers)}, or all")
    return 0
