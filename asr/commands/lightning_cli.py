"""Usage:
    asr fit --config recipes/tts/digits.yaml [--trainer.max_epochs 20 ...]
    asr fit --config recipes/tts/digits.yaml --ckpt_path last       # resume a killed run exactly
    asr fit --config recipes/tts/digits.yaml --init-from exp/demo/model.pt --data.train_manifests my_cuts.jsonl.gz
    asr fit --config recipes/fsdd/digits.yaml --threads 1            # on a busy machine
    asr fit --config recipes/librispeech/transformer_100h.yaml --print-plan --trainer.devices 8   # steps, lr
    asr validate --config recipes/tts/digits.yaml --ckpt_path exp/digits/checkpoints/last.ckpt
    asr test --config recipes/tts/digits.yaml --ckpt_path best

LightningCLI over `asr.training.task.ASRTask` and `asr.data.datamodule.ASRDataModule` (built in
`asr.training.cli`). Besides LightningCLI's own arguments, `--threads N` sets torch's CPU threads and
`--device cpu|cuda` the trainer's accelerator, as on every other command that computes, and `--init-from
MODEL.pt` (the config key `model.init_from`) starts from a model file's weights, tokenizer and CMVN statistics:
fine-tuning (asr/training/init_from.py). A checkpoint resumes a run (`--ckpt_path`); a model file starts one.
"""

from __future__ import annotations

import argparse

from asr.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:  # arguments are LightningCLI's own
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def compute_flags(args: list[str]) -> tuple[list[str], int | None]:
    """Take --threads N and --device X out of LightningCLI's arguments: (the rest, threads); --device becomes
    --trainer.accelerator and --init-from --model.init_from."""
    rest: list[str] = []
    threads = None
    it = iter(args)
    for a in it:
        flag, eq, value = a.partition("=")
        if flag in ("--threads", "--device", "--init-from"):
            if not eq:
                value = next(it, "")
            if not value:
                example = {"--threads": "1", "--device": "cpu", "--init-from": "exp/demo/model.pt"}[flag]
                raise UserError(f"{flag} needs a value, e.g. {flag} {example}")
            if flag == "--init-from":
                rest += ["--model.init_from", value]
            elif flag == "--threads":
                if not value.isdigit() or int(value) < 1:
                    raise UserError(f"--threads must be a whole number >= 1, got {value!r}")
                threads = int(value)
            else:
                if value not in ("cpu", "cuda"):
                    raise UserError(f"--device must be cpu or cuda, got {value!r}")
                rest += ["--trainer.accelerator", "gpu" if value == "cuda" else "cpu"]
        else:
            rest.append(a)
    return rest, threads


def run_lightning(subcommand: str, args: list[str]) -> int:
    if subcommand == "fit" and "--print-plan" in args:
        return print_plan(compute_flags(args)[0])
    # Without a recipe Lightning would write lightning_logs/ into the current folder before failing.
    rest = recipe_arguments(subcommand, args, "--trainer.default_root_dir",
                            "or --trainer.default_root_dir DIR for where the run goes")
    from asr.training.cli import build_cli

    build_cli([subcommand, *rest])
    return 0


def recipe_arguments(subcommand: str, args: list[str], instead_of_config: str, how: str) -> list[str]:
    """LightningCLI's arguments for `asr SUBCOMMAND ARGS` (compute_flags; --threads applied), once they name a
    recipe: --config, or `instead_of_config`; else a UserError saying so, with `how` in brackets."""
    rest, threads = compute_flags(args)
    asks_for_help = any(a in ("-h", "--help", "--print_config") or a.startswith("--print_config=") for a in rest)
    if not asks_for_help and not any(a.split("=")[0] in ("--config", "-c", instead_of_config) for a in rest):
        raise UserError(f"asr {subcommand} needs a recipe: --config recipes/<corpus>/<config>.yaml ({how})")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return rest


def print_plan(rest: list[str]) -> int:
    """`asr fit --config R --print-plan [--train-hours H] [--trainer.devices N ...]`: the plan, nothing trained."""
    from asr.resources import resource
    from asr.training.cli import TRAINER_DEFAULTS
    from asr.training.print_plan import plan_lines

    rest = [a for a in rest if a != "--print-plan"]
    hours = None
    if any(a.split("=")[0] == "--train-hours" for a in rest):
        i = next(i for i, a in enumerate(rest) if a.split("=")[0] == "--train-hours")
        flag, eq, value = rest[i].partition("=")
        value = value if eq else (rest[i + 1] if i + 1 < len(rest) else "")
        del rest[i:i + (1 if eq else 2)]
        try:
            hours = float(value)
        except ValueError:
            raise UserError(f"--train-hours needs a number of hours, got {value!r}") from None
    print("\n".join(plan_lines(rest, resource(TRAINER_DEFAULTS), hours)))
    return 0


def run(args: argparse.Namespace) -> int:  # only reached through `asr COMMAND --help` paths
    return run_lightning(args.command, args.rest)
