"""A training plan that does not depend on the number of GPUs: the audio per optimiser step is fixed by the recipe
(`data.audio_per_step`, seconds, all devices and micro-batches together) and gradient accumulation is derived
from the world size, so 1, 4 or 8 GPUs (or N nodes) see the same audio per step and follow the same
learning-rate path, whose warmup and decay are counted in optimiser steps.

    plan_batches(4000, max_duration=1200, world_size=1)  -> 4 micro-batches of 1000 s a step
    plan_batches(4000, max_duration=1200, world_size=8)  -> 1 micro-batch of 500 s per device a step

`data.max_duration` is then what one device holds at once (its memory), not the batch. Pure functions: the data
module, `asr fit --print-plan` and the tests share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from asr.errors import UserError
from asr.training.schedules import OptimConfig, lr_factor


@dataclass(frozen=True)
class BatchPlan:
    audio_per_step: float  # seconds of audio in one optimiser step, all devices and micro-batches together
    world_size: int  # devices x nodes
    accumulate: int  # micro-batches per device per optimiser step
    per_device: float  # seconds of audio in one micro-batch on one device (the sampler's max_duration)

    def line(self) -> str:
        return (f"{self.audio_per_step:g} s of audio per optimiser step = {self.world_size} device(s) x "
                f"{self.accumulate} micro-batch(es) x {self.per_device:.1f} s")


def plan_batches(audio_per_step: float, max_duration: float, world_size: int) -> BatchPlan:
    """The fewest micro-batches per device that keep each under `max_duration` seconds, sized to add up to exactly
    `audio_per_step` over `world_size` devices."""
    if audio_per_step <= 0 or max_duration <= 0:
        raise UserError(f"data.audio_per_step ({audio_per_step:g}) and data.max_duration ({max_duration:g}) must be "
                        "positive seconds of audio")
    world_size = max(int(world_size), 1)
    accumulate = max(1, math.ceil(audio_per_step / (max_duration * world_size) - 1e-9))
    return BatchPlan(float(audio_per_step), world_size, accumulate, audio_per_step / (world_size * accumulate))


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
    if plan.warmup_steps >= plan.total_steps:
        lines.append(f"warning: warmup ({plan.warmup_steps}) does not end before training does ({plan.total_steps})")
    return lines
