"""An exponential moving average of the weights, validated, checkpointed and exported in place of the raw ones.

Lightning's `EMAWeightAveraging` does the work (validation swaps the average in, checkpoints hold it as
`state_dict` and the raw weights as `current_model_state` so a resumed run goes on from the raw ones, the end of
fit copies it into the model); this subclass only lets it see the network, which `ASRTask` builds in `setup()`
(the tokenizer decides the vocabulary), after the callbacks' own `setup()` has run. A recipe adds it as

    trainer:
      callbacks+:
        - class_path: asr.training.ema.EMA
          init_args: {decay: 0.998, update_starting_at_step: 400}

or `asr demo --set trainer.callbacks+=asr.training.ema.EMA --set trainer.callbacks.decay=0.998`.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging


class EMA(EMAWeightAveraging):
    """weights_avg = decay * weights_avg + (1 - decay) * weights after each optimiser step from
    `update_starting_at_step` (the first update copies the weights)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            pl_module.setup(stage)  # ASRTask.setup is idempotent: builds the network once, from the tokenizer
        super().setup(trainer, pl_module, stage)
