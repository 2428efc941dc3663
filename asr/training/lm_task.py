"""The language model's training system: `TransformerLM` (asr.lm.model) + AdamW with warmup and cosine decay over
`max_steps` (asr.training.schedules), per-unit cross-entropy; validation logs `val_loss` (nats per unit, <eos>
included) and `val_ppl`. The LM itself knows nothing of Lightning."""

from __future__ import annotations

import math

import lightning as L
import torch

from asr.lm.model import LMConfig, TransformerLM
from asr.training.schedules import OptimConfig, adamw, lr_factor
from asr.training.task import seed_batch


class LMTask(L.LightningModule):
    def __init__(self, lm: LMConfig, optim: OptimConfig, seed: int = 0, schedule_steps: int = 0) -> None:
        """schedule_steps: the cosine's length in steps (0: the trainer's max_steps)."""
        super().__init__()
        self.save_hyperparameters({"lm": lm.to_dict(), "optim": vars(optim), "seed": seed,
                                   "schedule_steps": schedule_steps})
        self.lm_cfg, self.optim_cfg, self.seed, self.schedule_steps = lm, optim, seed, schedule_steps
        self.lm = TransformerLM(lm)
        self._valid = [0.0, 0]  # summed NLL, predicted units

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        seed_batch(self.seed, self.trainer.global_rank, self.trainer.global_step)  # dropout: the same after resume
        nll, n = self.lm.loss(batch["tokens"], batch["lens"])
        loss = nll / n.clamp(min=1)
        self.log("train_loss", loss, prog_bar=True, batch_size=int(batch["lens"].numel()))
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        nll, n = self.lm.loss(batch["tokens"], batch["lens"])
        self._valid[0] += float(nll)
        self._valid[1] += int(n)

    def on_validation_epoch_end(self) -> None:
        nll, n = self._valid
        self._valid = [0.0, 0]
        loss = nll / max(n, 1)
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_ppl", math.exp(min(loss, 50.0)), prog_bar=True)

    def configure_optimizers(self):
        cfg = self.optim_cfg
        opt = adamw(self.lm, cfg)
        total = self.schedule_steps or (self.trainer.max_steps if self.trainer.max_steps > 0
                                        else int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
