"""Where the encoder's output frames sit in time: word timestamps and attention pictures both need it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from asr.model.config import ModelConfig
from asr.model.layers import SUBSAMPLING_LAYERS, receptive_field


@dataclass(frozen=True)
class FrameClock:
    """Where encoder frame j sits in time: centred at first_centre_s + j * frame_s, relative to the segment."""

    frame_s: float
    first_centre_s: float

    @classmethod
    def of(cls, cfg: ModelConfig) -> FrameClock:
        front = cfg.frontend
        hop, win = front.hop_ms / 1000, front.win_ms / 1000
        layers = SUBSAMPLING_LAYERS[cfg.subsampling]
        stride = math.prod(s for _, s in layers)
        return cls(hop * stride, (receptive_field(layers) - 1) / 2 * hop + win / 2)

    def centre(self, frame: float) -> float:
        return self.first_centre_s + frame * self.frame_s
