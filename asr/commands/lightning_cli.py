"""Usage:
    asr fit --config recipes/tts/digits.yaml [--trainer.max_epochs 20 ...]
    asr fit --config recipes/tts/digits.yaml --ckpt_path last       # resume a killed run exactly
    asr validate --config recipes/tts/digits.yaml --ckpt_path exp/digits/checkpoints/last.ckpt
    asr test --config recipes/tts/digits.yaml --ckpt_path best

LightningCLI over `asr.lightning.ASRTask` and `asr.data.datamodule.ASRDataModule`. A recipe config composes a
model size from conf/model/ (`model: {model: ../../conf/model/tiny.yaml}`) with its data settings; the resolved
config is saved beside the run's logs as config.yaml.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:  # arguments are LightningCLI's own
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def run_lightning(subcommand: str, args: list[str]) -> int:
    from lightning.pytorch.cli import LightningCLI

    from asr.data.datamodule import ASRDataModule
    from asr.lightning import ASRTask

    LightningCLI(
        ASRTask,
        ASRDataModule,
        args=[subcommand, *args],
        # lhotse's sampler splits the data across DDP ranks itself; Lightning must not wrap it.
        trainer_defaults={"use_distributed_sampler": False},
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
    )
    return 0


def run(args: argparse.Namespace) -> int:  # only reached through `asr COMMAND --help` paths
    return run_lightning(args.command, args.rest)
