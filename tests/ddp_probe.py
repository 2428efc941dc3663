"""Callbacks the DDP tests load by class path: each rank writes the cut ids it trained on, per epoch, and the
weights it ends with."""

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class RecordCutIds(Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"rank{trainer.global_rank}_epoch{trainer.current_epoch}.txt"
        with path.open("a") as f:
            f.write("\n".join(batch["ids"]) + "\n")


class RecordWeights(Callback):
    """`rank{R}_weights.pt` in `out_dir` when training ends: every rank's own copy of the weights (a checkpoint
    holds only rank 0's), with the step and the world as that rank saw it."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_train_end(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": pl_module.state_dict(), "global_step": trainer.global_step,
                    "world_size": trainer.world_size, "node_rank": trainer.node_rank,
                    "environment": type(trainer.strategy.cluster_environment).__name__},
                   self.out_dir / f"rank{trainer.global_rank}_weights.pt")
