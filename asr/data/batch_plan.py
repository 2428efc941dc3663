"""A batch that does not depend on the number of GPUs: the audio per optimiser step is fixed by the recipe
(`data.audio_per_step`, seconds, all devices and micro-batches together) and gradient accumulation is derived
from the world size, so 1, 4 or 8 GPUs (or N nodes) see the same audio per step.

    plan_batches(4000, max_duration=1200, world_size=1)  -> 4 micro-batches of 1000 s a step
    plan_batches(4000, max_duration=1200, world_size=8)  -> 1 micro-batch of 500 s per device a step

`data.max_duration` is then what one device holds at once (its memory), not the batch. A pure function of the
data layer: the data module sizes its sampler with it, and the training plan (asr/training/plan.py, steps and
learning rates) builds on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from asr.errors import UserError


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
