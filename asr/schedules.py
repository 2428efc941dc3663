"""Learning-rate schedules as pure functions of the step: warmup then Noam (inverse square root) or cosine decay."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class OptimConfig:
    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    schedule: str = "noam"  # noam | cosine | constant
    warmup_steps: int = 25000
    total_steps: int = 0  # cosine only; 0 = the trainer's max_steps / estimated stepping batches
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr


def lr_factor(step: int, cfg: OptimConfig, total_steps: int = 0) -> float:
    """Multiplier of cfg.lr at optimizer step `step` (0-based)."""
    s = step + 1
    warm = max(cfg.warmup_steps, 1)
    if s <= warm or cfg.schedule == "constant":
        return min(1.0, s / warm)
    if cfg.schedule == "noam":
        return math.sqrt(warm / s)
    if cfg.schedule == "cosine":
        total = max(total_steps, warm + 1)
        progress = min(1.0, (s - warm) / (total - warm))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {cfg.schedule!r}; choose noam, cosine or constant")
