"""Usage:
    asr prepare-training --config recipes/tts/digits.yaml           # exp/tts-digits/tokenizer.json and cmvn.json
    asr prepare-training --config recipes/librispeech/transformer_100h.yaml --threads 8   # on a CPU machine
    asr prepare-training --config recipes/tts/digits.yaml --force   # again, after new manifests or settings
    asr prepare-training --data.train_manifests data/fsdd/train_cuts.jsonl.gz --model.tokenizer.kind char \\
        --trainer.default_root_dir exp/fsdd-chars                   # without a recipe: every setting is a flag

The training inputs made before training (asr/training/prepare.py): the tokenizer trained on the training
transcripts (`model.tokenizer`: kind, vocab_size) and the CMVN statistics of the training audio
(`model.task.cmvn_utterances`, the front end of `model.model.frontend`), written to `model.tokenizer_file` and
`model.cmvn_file` (default: tokenizer.json and cmvn.json in `trainer.default_root_dir`). The recipe is read as
`asr fit --config R` reads it, overrides included, but no Trainer is built: a GPU recipe prepares on a machine
without a GPU. `asr fit` makes missing files itself, so this stage is for making them ahead of a run (once for
several, or before the GPUs are booked), again (`--force`), or checking that existing ones fit the recipe.
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:  # arguments are LightningCLI's, as for asr fit
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:  # only reached through `asr prepare-training --help` paths
    return run_lightning(args.command, args.rest)


def run_lightning(subcommand: str, args: list[str]) -> int:
    from asr.commands.lightning_cli import recipe_arguments

    force = "--force" in args
    rest = recipe_arguments(subcommand, [a for a in args if a != "--force"], "--data.train_manifests",
                            "or the training manifests and settings as flags: --data.train_manifests M "
                            "--model.tokenizer.kind char ...")
    from asr.training.cli import build_cli
    from asr.training.prepare import input_files, prepare_training, read_inputs, warn_other_manifests

    cli = build_cli(rest, run=False, trainer=False)
    task, data = cli.model, cli.datamodule
    if task.init_from:
        print(f"nothing to prepare: model.init_from {task.init_from} brings its tokenizer and CMVN statistics")
        return 0
    root = cli.config.get("trainer.default_root_dir") or os.getcwd()
    written = prepare_training(task, data, root, force=force)
    read_inputs(task, root)  # files that were there already must fit the recipe's settings
    kept = [p for p in input_files(task, root) if p not in written]
    if kept:
        warn_other_manifests(task, data, root)
        print(f"kept {' and '.join(map(str, kept))}, made earlier for these settings (--force makes them again)")
    return 0
