"""An exponential moving average of the weights, validated, checkpointed and exported in place of the raw ones.

Lightning's `EMAWeightAveraging` does the work (validation swaps the average in, checkpoints hold it as
`state_dict` and the raw weights as `current_model_state` so a resumed run goes on from the raw ones, the end of
fit copies it into the model). This subclass lets it see the network, which `ASRTask` builds in `setup()` (the
tokenizer decides the vocabulary) after the callbacks' own `setup()` has run, and makes the average the weights
themselves until its first update: Lightning's would validate, checkpoint and, for a run shorter than
`update_starting_at_step`, end with the initial random weights. A recipe adds it as

    trainer:
      callbacks+:
        - class_path: asr.training.ema.EMA
          init_args: {decay: 0.998, update_starting_at_step: 400}

or `asr demo --set trainer.callbacks+=asr.training.ema.EMA --set trainer.callbacks.decay=0.998`.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging


class EMA(EMAWeightAveraging):
    """weights_avg = decay * weights_avg + (1 - decay) * weights after each optimiser step from
    `update_starting_at_step` (the first update copies the weights)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            pl_module.setup(stage)  # ASRTask.setup is idempotent: builds the network once, from the tokenizer
        super().setup(trainer, pl_module, stage)

    def started(self) -> bool:
        """Whether the average holds anything yet (it is updated from `update_starting_at_step` on)."""
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.started():
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.started():
            super().on_validation_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.started():
            super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self.started():  # else the weights are the checkpoint's state_dict, and nothing is averaged to keep
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if "current_model_state" in checkpoint:  # else saved before the first update: the average starts afresh
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
