"""A training plan that does not depend on the number of GPUs: the batch plan (asr/data/batch_plan.py: the audio
per optimiser step fixed by the recipe, gradient accumulation derived from the world size) gives the steps, and
the learning-rate path, whose warmup and decay are counted in optimiser steps, is then the same on 1, 4 or 8 GPUs.
Pure functions: `asr fit --print-plan` and the tests share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from asr.data.batch_plan import BatchPlan
from asr.training.schedules import OptimConfig, lr_factor


@dataclass(frozen=True)
class TrainingPlan:
    batches: BatchPlan
    train_seconds: float  # audio in one epoch (copies and repeats included)
    epochs: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    peak_lr: float
    lr_path: tuple[tuple[int, float], ...]  # (optimiser step, learning rate) at a few milestones
    fill: float = 0.95  # the share of a batch's max_duration that bucketed batches hold on average


def training_plan(batches: BatchPlan, train_seconds: float, epochs: int, optim: OptimConfig,
                  max_steps: int = -1, fill: float = 0.95) -> TrainingPlan:
    """Steps and learning rates for `epochs` over `train_seconds` of audio. `fill`: the share of `max_duration` a
    bucketed batch holds on average (lhotse stops a batch before the cut that would overflow it)."""
    per_epoch = max(1, math.ceil(train_seconds / (batches.audio_per_step * fill)))
    total = per_epoch * max(epochs, 1)
    if max_steps and max_steps > 0:
        total = min(total, max_steps) if epochs > 0 else max_steps
    marks = sorted({1, optim.warmup_steps // 2, optim.warmup_steps, total // 2, total} - {0})
    path = tuple((s, optim.lr * lr_factor(s - 1, optim, total)) for s in marks if s <= max(total, 1))
    return TrainingPlan(batches, train_seconds, epochs, per_epoch, total, optim.warmup_steps, optim.lr, path, fill)


def describe(plan: TrainingPlan) -> list[str]:
    """The plan as the lines `asr fit --print-plan` prints."""
    b = plan.batches
    hours_seen = plan.total_steps * b.audio_per_step * plan.fill / 3600
    lines = [
        f"world size {b.world_size}: {b.line()}",
        f"accumulate_grad_batches {b.accumulate} (derived from the world size; the recipe fixes the audio per step)",
        f"epoch: {plan.train_seconds / 3600:.1f} h of audio -> ~{plan.steps_per_epoch} optimiser steps",
        f"{plan.epochs} epochs -> ~{plan.total_steps} optimiser steps, ~{hours_seen:,.0f} h of audio seen",
        f"warmup {plan.warmup_steps} steps ({plan.warmup_steps / max(plan.steps_per_epoch, 1):.1f} epochs) to peak "
        f"lr {plan.peak_lr:g}",
        "lr path: " + ", ".join(f"step {s}: {lr:.3g}" for s, lr in plan.lr_path),
    ]
    warning = warmup_warning(plan.warmup_steps, plan.total_steps)
    return lines + [warning] if warning else lines


def warmup_warning(warmup_steps: int, total_steps: int) -> str | None:
    """The line `asr fit --print-plan` and the start of training print when the learning rate is still warming up
    as training stops (None when it is not)."""
    if warmup_steps < total_steps:
        return None
    return (f"warning: warmup ({warmup_steps} steps) does not end before training does ({total_steps} steps): the "
            "learning rate never reaches its peak; lower model.optim.warmup_steps or train for more steps")
