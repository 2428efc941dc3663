"""Resuming a killed run: which checkpoint `--ckpt_path last` means, the recipes' checkpoint by the clock, and one
loop state Lightning resumes wrongly.

`--ckpt_path last` (asr/training/cli.py) resolves to the newest checkpoint of the run's checkpoint folders that can
be read, by modification time: normally last.ckpt; a top-k checkpoint written after it (the run died before it
rewrote last.ckpt); or, when last.ckpt is damaged (truncated by a full disk, a copy, a writer other than
asr.training.checkpoint_io), the newest good one, with one line saying so. Half-written `*.ckpt.partial` files of
killed writes are removed.

The recipes add a `ClockCheckpoint` beside the epoch-end checkpoints of conf/trainer/defaults.yaml, so that a kill
loses minutes, not an epoch:

    trainer:
      callbacks+:
        - class_path: asr.training.resume.ClockCheckpoint
          init_args: {train_time_interval: "0:01:00"}
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from asr.errors import UserError, brief
from asr.training.checkpoint_io import PARTIAL


class ClockCheckpoint(ModelCheckpoint):
    """last.ckpt every `train_time_interval` of training, from inside epochs; no top-k files of its own.

    It skips an epoch's last batch (the epoch-end checkpoint follows it): Lightning 2.6 resumes a checkpoint taken
    there by skipping that epoch's validation and end, so the epoch would miss its val_wer and top-k checkpoint.
    Versioned names are off, so last.ckpt stays one file whichever callback wrote it last.
    """

    def __init__(self, train_time_interval: timedelta, dirpath: str | None = None) -> None:
        super().__init__(dirpath=dirpath, train_time_interval=train_time_interval, save_top_k=0, save_last=True,
                         enable_version_counter=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class FinalCheckpoint(L.Callback):
    """`path` at the step a run stops (`max_steps`), written inside the training loop: a checkpoint saved after
    `fit` returns counts the epoch as completed, so a run resumed from it with a larger max_steps would start the
    next epoch instead of going on with this one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if 0 < trainer.max_steps <= trainer.global_step:
            trainer.save_checkpoint(self.path)


def checkpoint_folders(trainer) -> list[Path]:
    """The folders the trainer's ModelCheckpoint callbacks write to (resolved as Lightning resolves them)."""
    folders = []
    for cb in trainer.checkpoint_callbacks:
        if isinstance(cb, ModelCheckpoint):
            # Before fit Lightning has not set dirpath yet; its own "last" lookup resolves it with this method.
            folder = cb.dirpath or cb._ModelCheckpoint__resolve_ckpt_dir(trainer)
            if Path(folder) not in folders:
                folders.append(Path(folder))
    return folders


def readable(path: Path) -> str | None:
    """None when `path` loads as a training checkpoint, else why not (a short clause)."""
    try:
        # mmap: the pickled structure and the zip directory are read and checked, the tensors' bytes only mapped
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot resume from this one"
        return brief(e)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "loops" not in ckpt:
        return "not a training checkpoint"
    return None


def resolve_last(trainer) -> str | None:
    """The checkpoint `--ckpt_path last` resumes from; None when the run has none yet (training starts afresh)."""
    folders = [f for f in checkpoint_folders(trainer) if f.is_dir()]
    if trainer.is_global_zero:
        for folder in folders:
            for partial in folder.glob(f"*.ckpt{PARTIAL}"):
                partial.unlink(missing_ok=True)
    candidates = sorted((p for f in folders for p in f.glob("*.ckpt") if p.is_file()),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    damaged: list[tuple[Path, str]] = []
    for path in candidates:
        why = readable(path)
        if why is None:
            if damaged and trainer.is_global_zero:
                (bad, reason), more = damaged[0], len(damaged) - 1
                print(f"warning: {bad} cannot be read ({reason}){f' and {more} newer ones neither' if more else ''};"
                      f" resuming from the newest good checkpoint, {path}", file=sys.stderr)
            return str(path)
        damaged.append((path, why))
    if damaged:
        bad, reason = damaged[0]
        raise UserError(f"no checkpoint of this run can be read ({bad}: {reason}); pass a good one with --ckpt_path "
                        f"FILE, or move {bad.parent} away to train from the beginning")
    return None


def refuse_model_file(path: str | Path, subcommand: str) -> None:
    """A model file (`asr export`) given as --ckpt_path: one line saying what to do instead (Lightning would fail
    on it with `KeyError: 'pytorch-lightning_version'`)."""
    from asr.model.io import FORMAT

    path = Path(path)
    if not path.is_file():
        return
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not ours to judge: Lightning says what is wrong with it
        return
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        fix = (f"to start training from its weights use --init-from {path}" if subcommand == "fit" else
               f"to score it use asr {subcommand} --init-from {path} (no --ckpt_path), or asr evaluate --model {path}")
        raise UserError(f"{path} is a model file, not a checkpoint; {fix} (checkpoints are <run>/checkpoints/*.ckpt)")


def finish_epoch_end(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint saved at an epoch's end (ModelCheckpoint's `on_train_epoch_end`) resume as the start of
    the next epoch.

    Lightning 2.6 counts such an epoch as processed but not completed. Resumed with `max_steps` set, it runs that
    epoch's end again and counts it processed twice: the sampler's epoch (Lightning's processed count) is then one
    ahead for the rest of the run, so it trains on other batches than an uninterrupted run would. Marking the epoch
    completed and the next one's batch counters empty gives the state an uninterrupted run has there; without
    `max_steps` Lightning does the same itself. Checkpoints saved elsewhere are left alone.
    """
    fit = checkpoint.get("loops", {}).get("fit_loop")
    if not fit or "epoch_progress" not in fit or "epoch_loop.batch_progress" not in fit:
        return
    epochs, batches = fit["epoch_progress"], fit["epoch_loop.batch_progress"]
    cur = epochs["current"]
    at_epoch_end = (cur["ready"] == cur["started"] == cur["processed"] and cur["completed"] == cur["processed"] - 1
                    and batches.get("is_last_batch"))
    if not at_epoch_end:
        return
    for tracker in (epochs["current"], epochs["total"]):
        tracker["completed"] = tracker["processed"]
    for key, progress in fit.items():  # what the epoch loop resets when an epoch starts
        if key.startswith("epoch_loop.") and isinstance(progress, dict):
            _zero_current(progress)
    batches["is_last_batch"] = False
    val = fit.get("epoch_loop.val_loop.batch_progress")
    if val:
        val["total"] = {k: 0 for k in val["total"]}


def _zero_current(progress: dict) -> None:
    """Zero every `current` counter inside a Lightning progress state (nested for the optimizer's)."""
    for key, value in progress.items():
        if key == "current" and isinstance(value, dict):
            progress[key] = {k: 0 for k in value}
        elif isinstance(value, dict):
            _zero_current(value)
