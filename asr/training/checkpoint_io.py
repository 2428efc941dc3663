"""Checkpoint files that are either whole or absent, whenever the process dies.

Lightning's TorchCheckpointIO (2.6) serialises to memory and writes through an fsspec transaction, which on a
local disk stages the bytes in a `tempfile.mkstemp()` file in the system temp folder and then `shutil.move`s it:
a rename only when that folder shares the checkpoint's file system, otherwise a copy into `last.ckpt` that a kill
leaves truncated; nothing is fsynced, and a killed run leaves its staging file in /tmp. This one writes
`<name>.partial` beside the target, fsyncs it, and renames it over the target (atomic on POSIX within a folder),
so a kill at any moment leaves the previous checkpoint intact. conf/trainer/defaults.yaml installs it:

    trainer:
      plugins:
        - class_path: asr.training.checkpoint_io.AtomicCheckpointIO
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

PARTIAL = ".partial"  # suffix of a checkpoint being written; never ".ckpt", so nothing mistakes one for a checkpoint


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(path)
        try:
            with self._open(partial, path) as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        _fsync_folder(path.parent)  # the rename itself survives a power cut only once the folder is synced

    def _open(self, partial: Path, target: Path) -> BinaryIO:
        """The file the bytes of `target` go to first (a seam for the kill test, tests/kill_probe.py)."""
        return open(partial, "wb")


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
