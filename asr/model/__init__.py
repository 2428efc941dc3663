"""The model as plain nn.Modules; usable without Lightning."""

from asr.model.asr_model import ASRModel, Losses, pad_targets
from asr.model.config import ModelConfig

__all__ = ["ASRModel", "Losses", "ModelConfig", "pad_targets"]
