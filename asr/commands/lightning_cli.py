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
import warnings


def add_arguments(parser: argparse.ArgumentParser) -> None:  # arguments are LightningCLI's own
    parser.add_argument("rest", nargs=argparse.REMAINDER)


# Appended to Lightning's complaint when a GPU recipe meets a machine without a usable GPU.
CPU_HINT = ("this recipe is set up for GPUs; to run it on the CPU add --trainer.accelerator cpu "
            "--trainer.devices 1 --trainer.strategy auto --trainer.precision 32-true")


def run_lightning(subcommand: str, args: list[str]) -> int:
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.cli import LightningCLI

    from asr.data.datamodule import ASRDataModule
    from asr.errors import UserError
    from asr.lightning import ASRTask

    # LightningCLI warns when args= is given while sys.argv holds the same words, which is always the case here
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    try:
        LightningCLI(
            ASRTask,
            ASRDataModule,
            args=[subcommand, *args],
            # lhotse's sampler splits the data across DDP ranks itself; Lightning must not wrap it.
            trainer_defaults={"use_distributed_sampler": False},
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
        )
    except MisconfigurationException as e:  # a setting that cannot work here: one line, not a traceback
        message = str(e).strip().splitlines()[0].rstrip(".!")
        gpu = any(word in message.lower() for word in ("gpu", "cuda"))
        raise UserError(f"{message} ({CPU_HINT if gpu else 'check the trainer settings'})") from None
    return 0


def run(args: argparse.Namespace) -> int:  # only reached through `asr COMMAND --help` paths
    return run_lightning(args.command, args.rest)
