"""A callback the kill test (tests/test_kill_resume.py) loads by class path: it stops `asr fit` at a named moment
so that the test can SIGKILL it there, without guessing from the clock.

`ASR_TEST_PAUSE_AT` names the moment (unset: the probe does nothing):

    step:K         before training step K+1 (K steps done; mid-epoch when K is not an epoch's end)
    saved:E        just after the epoch-end checkpoint of epoch E was written (last.ckpt included)
    validation:E   during the validation of epoch E, after its first batch
    writing:E      halfway through writing the epoch-end last.ckpt of epoch E

At the moment the probe writes `ASR_TEST_PAUSED` (a file: the moment, the step the process started from, the step
and epoch it is at) and sleeps until it is killed. It subclasses `Checkpoint` so that Lightning orders it with the
checkpoint callbacks, after those of the recipe: its `on_train_epoch_end` then runs after the epoch-end checkpoint
was saved.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import Checkpoint


class PauseAt(Checkpoint):
    def __init__(self) -> None:
        moment = os.environ.get("ASR_TEST_PAUSE_AT", "")
        self.kind, _, n = moment.partition(":")
        self.n = int(n) if n else -1
        self.flag = Path(os.environ.get("ASR_TEST_PAUSED", "paused.json"))

    def on_train_start(self, trainer, pl_module) -> None:
        self.resumed_at = trainer.global_step  # where this process started: 0, or its checkpoint's step

    def pause(self, trainer, **extra) -> None:
        self.flag.write_text(json.dumps({"moment": f"{self.kind}:{self.n}", "resumed_at": self.resumed_at,
                                         "global_step": trainer.global_step, "epoch": trainer.current_epoch, **extra}))
        while True:  # until SIGKILL
            time.sleep(0.05)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.kind == "step" and trainer.global_step == self.n:
            self.pause(trainer)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.kind == "validation" and trainer.current_epoch == self.n and batch_idx == 0:
            self.pause(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.kind == "writing" and trainer.current_epoch == self.n:
            self.arm_writer(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.kind == "saved" and trainer.current_epoch == self.n:
            self.pause(trainer)

    def arm_writer(self, trainer) -> None:
        """Make the next write of last.ckpt stop halfway: the recipe's atomic CheckpointIO opens the file it writes
        through `_open`, which this replaces on the instance."""
        from asr.training.checkpoint_io import AtomicCheckpointIO

        checkpoint_io = trainer.strategy.checkpoint_io
        assert isinstance(checkpoint_io, AtomicCheckpointIO), f"checkpoints are written by {checkpoint_io!r}"
        opened = checkpoint_io._open
        probe = self

        def pausing_open(partial: Path, target: Path):
            f = opened(partial, target)
            if target.name != "last.ckpt":
                return f
            return _PausingFile(f, lambda: probe.pause(trainer, writing=str(partial)))

        checkpoint_io._open = pausing_open


class _PausingFile(io.RawIOBase):
    """A file that, once it has taken 2 kB, flushes what it has and calls `pause` (which never returns)."""

    def __init__(self, f, pause) -> None:
        self.f, self.pause_fn, self.written = f, pause, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = self.f.write(data)
        self.written += n
        if self.written > 2048:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.pause_fn()
        return n

    def flush(self) -> None:
        self.f.flush()

    def fileno(self) -> int:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()
        super().close()
