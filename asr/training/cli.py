"""LightningCLI over `ASRTask` and `ASRDataModule`, built in one place for `asr fit|validate|test` and the demo.

The trainer settings every recipe shares (clipping, the checkpoint callback and its file names, ...) live once,
in conf/trainer/defaults.yaml, loaded before any --config; a recipe adds its hardware, budget and run folder,
composes a model size from conf/model/ (`model: {model: ../../conf/model/tiny.yaml}`) and sets its data. The
resolved config is saved beside the run's logs as config.yaml, and the --config path(s) go on the model card as
its recipe. `--ckpt_path last` means the newest readable checkpoint of the run (asr/training/resume.py); a model
file given as --ckpt_path is one line pointing to --init-from. Before the Trainer starts, a fresh fit makes the
tokenizer and CMVN files it lacks and the data module gets the run's tokenizer (asr/training/prepare.py), and the
training progress bar counts the budget (asr/training/progress.py).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace

from asr.errors import UserError

TRAINER_DEFAULTS = "conf/trainer/defaults.yaml"

# Appended to Lightning's complaint when a GPU recipe meets a machine without a usable GPU.
CPU_HINT = ("this recipe is set up for GPUs; to run it on the CPU add --trainer.accelerator cpu "
            "--trainer.devices 1 --trainer.strategy auto --trainer.precision 32-true")


def build_cli(args: list[str], run: bool = True, trainer: bool = True):
    """A LightningCLI for `args` (a subcommand first when `run`); Lightning's setting errors become one
    UserError line. `args` is the whole command line. With `run=False` (the demo) sys.argv is hidden from
    LightningCLI while it parses; when it runs, sys.argv stays: DDP starts the other ranks with it. With
    `trainer=False` (asr prepare-training) the model and data are built but no Trainer: a GPU recipe's is refused
    on a machine without one, and preparing needs none."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.cli import LightningCLI

    from asr.data.datamodule import ASRDataModule
    from asr.resources import resource
    from asr.training.task import ASRTask

    defaults = {"default_config_files": [str(resource(TRAINER_DEFAULTS))]}

    # LightningCLI warns when args= is given while sys.argv holds the same words, which is always the case here
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    argv = sys.argv
    if not run:
        sys.argv = sys.argv[:1]

    class CLI(LightningCLI):
        def before_fit(self) -> None:
            self._before("fit")

        def before_validate(self) -> None:
            self._before("validate")

        def before_test(self) -> None:
            self._before("test")

        def _before(self, subcommand: str) -> None:
            """`--ckpt_path last`: the newest checkpoint that can be read (asr/training/resume.py), not only
            last.ckpt; then the training inputs (asr/training/prepare.py)."""
            from asr.training.prepare import prepare_run
            from asr.training.resume import refuse_model_file, resolve_last

            config = self.config_init[subcommand]
            self.model.facts = replace(self.model.facts, recipe=recipe_of(self.config[subcommand]))
            if config.get("ckpt_path") == "last":
                config["ckpt_path"] = resolve_last(self.trainer)
            elif config.get("ckpt_path"):
                refuse_model_file(config["ckpt_path"], subcommand)
            if config.get("ckpt_path"):  # resuming into its own folder is the point, not a surprise
                warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            prepare_run(self.trainer, self.model, self.datamodule, subcommand, config.get("ckpt_path"))

        def instantiate_trainer(self, **kwargs):
            if not trainer:
                return None
            from asr.training.progress import use_budget_bar

            built = super().instantiate_trainer(**kwargs)
            use_budget_bar(built)
            return built

    try:
        cli = CLI(
            ASRTask,
            ASRDataModule,
            args=args,
            run=run,
            parser_kwargs={sub: defaults for sub in ("fit", "validate", "test", "predict")} if run else defaults,
            # lhotse's sampler splits the data across DDP ranks itself; Lightning must not wrap it.
            trainer_defaults={"use_distributed_sampler": False},
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
        )
        if not run:  # the caller runs the trainer itself: no before_fit hook records the recipe
            cli.model.facts = replace(cli.model.facts, recipe=recipe_of(cli.config))
        return cli
    except MisconfigurationException as e:  # a setting that cannot work here: one line, not a traceback
        raise UserError(misconfiguration_line(e)) from None
    except (ValueError, RuntimeError) as e:
        if not slurm_mismatch(e):
            raise
        raise UserError(f"{e} (the sbatch script's tasks per node and nodes must be the run's --trainer.devices "
                        "and --trainer.num_nodes: recipes/librispeech/slurm.sbatch)") from None
    finally:
        sys.argv = argv


def recipe_of(config) -> str | None:
    """The --config file(s) of a parsed LightningCLI config, as given, for the model card."""
    paths = config.get("config") or []
    return ", ".join(str(getattr(p, "relative", p)) for p in paths) or None


def slurm_mismatch(e: Exception) -> bool:
    """Whether `e` is Lightning's refusal of a SLURM job whose task layout is not the Trainer's (`--ntasks-per-node`
    or `--nodes` against devices and num_nodes, `--ntasks` without `--ntasks-per-node`): raised as the run starts,
    as a ValueError or RuntimeError that names the fix."""
    message = str(e)
    return "SLURM" in message and "HINT" in message and "\n" not in message.strip()


def misconfiguration_line(e: Exception) -> str:
    message = str(e).strip().splitlines()[0].rstrip(".!")
    gpu = any(word in message.lower() for word in ("gpu", "cuda"))
    return f"{message} ({CPU_HINT if gpu else 'check the trainer settings'})"
