"""A callback the DDP test loads by class path: each rank writes the cut ids it trained on, per epoch."""

from pathlib import Path

from lightning.pytorch.callbacks import Callback


class RecordCutIds(Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"rank{trainer.global_rank}_epoch{trainer.current_epoch}.txt"
        with path.open("a") as f:
            f.write("\n".join(batch["ids"]) + "\n")
