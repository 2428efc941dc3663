"""The training inputs made before training, as ESPnet's `collect_stats` and icefall's `prepare.sh` make them: the
tokenizer trained on the training transcripts and the CMVN statistics measured on the training audio, written once,
by one process, as files; training reads them, and the LightningModule never reads the data for them.

Usage:
    asr prepare-training --config recipes/tts/digits.yaml          # exp/tts-digits/tokenizer.json and cmvn.json
    asr prepare-training --config recipes/tts/digits.yaml --force  # again, after new manifests or settings
    asr fit --config recipes/tts/digits.yaml                        # makes the files first where they are missing

The files are `model.tokenizer_file` and `model.cmvn_file`: by default tokenizer.json and cmvn.json in the run
folder (`trainer.default_root_dir`); a recipe may name others (one tokenizer for several runs). Each records what
it was made from: a file made for other settings than the run's (tokenizer kind or size, front end) is an error
that names the fix, one made from other training manifests a warning. With `model.init_from` nothing is made: the
model file brings its tokenizer and statistics.

`prepare_run` is what runs before the Trainer starts (`asr fit|validate|test` and the demo call it, and so can code
that drives a Trainer itself): on a fresh fit the first process makes the files that are missing while the other
ranks wait for them; then the data module gets the tokenizer the model will hold, to tokenise transcripts in its
workers: the checkpoint's when one is restored, the init_from file's when fine-tuning, else the file's.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from asr.data.stats import (
    compute_cmvn, read_cmvn_file, read_tokenizer_file, train_tokenizer_from_cuts, write_cmvn_file,
    write_tokenizer_file,
)
from asr.errors import UserError
from asr.features import FrontendConfig
from asr.tokenizer import Tokenizer, tokenizer_from_state
from asr.training.init_from import TRAINING_ONLY, start_from, warn_unknown_units

TOKENIZER_FILE, CMVN_FILE = "tokenizer.json", "cmvn.json"
SIZED = ("bpe", "unigram")  # tokenizer kinds whose vocabulary size is a setting
WAIT_S = 6 * 3600  # how long the other ranks wait for the first process to write the files


def input_files(task, root: str | Path) -> tuple[Path, Path]:
    """The tokenizer and CMVN files of `task` (an ASRTask): those it names, else tokenizer.json and cmvn.json in
    `root`, the run folder."""
    return (Path(task.tokenizer_file or Path(root) / TOKENIZER_FILE),
            Path(task.cmvn_file or Path(root) / CMVN_FILE))


def prepare_training(task, datamodule, root: str | Path, force: bool = False) -> list[Path]:
    """Write the tokenizer and CMVN files of `task` (its settings: tokenizer kind and size, front end, CMVN
    utterances) from the training cuts of `datamodule`: the missing ones, or both with `force`. -> the files written
    (none with init_from). Call it on one process."""
    if task.init_from:
        return []
    tok_path, cmvn_path = input_files(task, root)
    todo = [p for p in (tok_path, cmvn_path) if force or not p.is_file()]
    if not todo:
        return []
    cuts = datamodule.train_cuts()
    manifests = list(datamodule.manifests["train"]) or list(getattr(datamodule, "shar_dirs", []))
    kind, size = task.tok_cfg.kind, task.tok_cfg.vocab_size
    if tok_path in todo:
        tokenizer = train_tokenizer_from_cuts(cuts, kind, size, translation_target(task))
        write_tokenizer_file(tok_path, tokenizer, {"manifests": manifests, "kind": kind,
                                                   "vocab_size": size if kind in SIZED else None})
        print(f"wrote {tok_path}: {kind} tokenizer, {tokenizer.vocab_size} units, from {len(cuts)} training "
              "utterances", flush=True)
    if cmvn_path in todo:
        frontend = task.model_cfg.frontend
        n = task.task_cfg.cmvn_utterances
        mean, std = compute_cmvn(datamodule.stats_cuts(n) if hasattr(datamodule, "stats_cuts") else cuts, frontend,
                                 max_cuts=n)
        write_cmvn_file(cmvn_path, mean, std, {"manifests": manifests, "utterances": task.task_cfg.cmvn_utterances,
                                               "frontend": feature_settings(frontend)})
        print(f"wrote {cmvn_path}: CMVN statistics of {frontend.n_mels} log-mel bins, from up to "
              f"{task.task_cfg.cmvn_utterances} training utterances", flush=True)
    return todo


def read_inputs(task, root: str | Path) -> tuple[Tokenizer, Tensor, Tensor]:
    """(tokenizer, CMVN mean (F,), std (F,)) from `task`'s files, checked against its settings."""
    tok_path, cmvn_path = input_files(task, root)
    for path in (tok_path, cmvn_path):
        if not path.is_file():
            raise UserError(f"{path} is missing: `asr prepare-training --config R` makes it from the training data "
                            "(`asr fit --config R` does so itself before training)")
    tokenizer, made = read_tokenizer_file(tok_path)
    kind, size = task.tok_cfg.kind, task.tok_cfg.vocab_size
    made_size = made.get("vocab_size")
    if tokenizer.kind != kind or (kind in SIZED and made_size not in (None, size)):
        theirs = tokenizer.kind + (f" {made_size}" if tokenizer.kind in SIZED and made_size else "")
        mine = kind + (f" {size}" if kind in SIZED else "")
        raise UserError(f"{tok_path} holds a {theirs} tokenizer, the config asks for {mine}: "
                        f"{_remake('--model.tokenizer_file')}")
    mean, std, made = read_cmvn_file(cmvn_path)
    frontend = task.model_cfg.frontend
    mine, theirs = feature_settings(frontend), made.get("frontend") or {}
    differing = [f"{k} {theirs[k]!r} (here {mine[k]!r})" for k in mine if k in theirs and theirs[k] != mine[k]]
    if differing or mean.numel() != frontend.n_mels:
        shown = ", ".join(differing) or f"{mean.numel()} bins (here n_mels {frontend.n_mels})"
        raise UserError(f"{cmvn_path} was measured with another front end: {shown}: "
                        f"{_remake('--model.cmvn_file')}")
    return tokenizer, mean, std


def prepare_run(trainer, task, datamodule, stage: str = "fit", ckpt_path: str | None = None) -> None:
    """Before `trainer.fit|validate|test(task, datamodule, ckpt_path=...)`: on a fresh fit, the files that are
    missing made by the first process (the other ranks wait for them); then `datamodule.tokenizer` set to the
    tokenizer the model will hold."""
    root = trainer.default_root_dir
    if ckpt_path:
        tokenizer = checkpoint_tokenizer(ckpt_path)
    elif task.init_from:
        tokenizer, _ = start_from(task.init_from, task.model_cfg, task.tok_cfg)
        if stage == "fit" and first_process():
            cuts = datamodule.train_cuts()
            warn_unknown_units(task.init_from, tokenizer, (s.text for c in cuts for s in c.supervisions))
    else:
        if stage == "fit" and first_process():
            prepare_training(task, datamodule, root)
            warn_other_manifests(task, datamodule, root)
        elif stage == "fit":
            wait_for(input_files(task, root))
        tokenizer, _, _ = read_inputs(task, root)
    datamodule.tokenizer = tokenizer
    datamodule.translate_to = translation_target(task)


def translation_target(task) -> str | None:
    """The language a translation model's decoder writes (`model.model.target_language`); None for recognition."""
    cfg = task.model_cfg
    return cfg.target_language if cfg.task == "translate" else None


def checkpoint_tokenizer(path: str | Path) -> Tokenizer | None:
    """The tokenizer a training checkpoint carries (mmap: its tensors are not read); None for a file that cannot be
    read, which Lightning then reports as it loads it."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - Lightning says what is wrong with the checkpoint when it loads it
        return None
    if not isinstance(ckpt, dict) or "asr_tokenizer" not in ckpt:
        raise UserError(f"{path} is not a checkpoint of `asr fit` (it carries no tokenizer)")
    return tokenizer_from_state(ckpt["asr_tokenizer"])


def warn_other_manifests(task, datamodule, root: str | Path) -> None:
    """One line on stderr for each file made from other training manifests than the run's."""
    manifests = list(datamodule.manifests["train"]) or list(getattr(datamodule, "shar_dirs", []))
    tok_path, cmvn_path = input_files(task, root)
    made = {tok_path: read_tokenizer_file(tok_path)[1], cmvn_path: read_cmvn_file(cmvn_path)[2]}
    for path, made_from in made.items():
        if made_from.get("manifests") not in (None, manifests):
            print(f"warning: {path} was made from {', '.join(made_from['manifests'])}, this run trains on "
                  f"{', '.join(manifests)}: {_remake()}", file=sys.stderr)


def feature_settings(frontend: FrontendConfig) -> dict:
    """The front-end settings the features depend on (not the augmentation, which only training applies)."""
    return {k: v for k, v in asdict(frontend).items() if f"frontend.{k}" not in TRAINING_ONLY}


def first_process() -> bool:
    """Whether this process is the run's first (global rank 0), read from the launchers' variables before the
    Trainer sets ranks up: torchrun and SLURM set them for every process, Lightning's DDP launcher for the ones it
    starts, after `asr fit` has prepared the files in the first."""
    return all(int(os.environ.get(v) or 0) == 0 for v in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"))


def wait_for(paths: tuple[Path, ...], timeout: float = WAIT_S, poll: float = 2.0) -> None:
    """Until every one of `paths` exists (the first process writes them, each at once)."""
    deadline = time.monotonic() + timeout
    while not all(p.is_file() for p in paths):
        if time.monotonic() > deadline:
            raise UserError(f"waited {timeout / 60:.0f} minutes for the first process to write "
                            f"{', '.join(map(str, paths))}; make them with `asr prepare-training` before the run")
        time.sleep(poll)


def _remake(key: str = "") -> str:
    named = f", or name another file with {key}" if key else ""
    return f"delete it (`asr fit` makes it again) or run `asr prepare-training --force` with this config{named}"
