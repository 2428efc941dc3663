"""What training costs, logged while it runs: audio and tokens per second on each device, and the wall time an
epoch will take at that pace.

    perf/audio_h_per_s   hours of audio one device learns from per second of wall clock (data loading included)
    perf/tokens_per_s    target tokens (with each utterance's <eos>) per second on one device
    perf/epoch_h         an epoch's wall-clock hours at the pace so far: the training cuts' hours (speed copies and
                         repeats included) / (audio_h_per_s x devices x 3600)

Each is measured over the optimiser steps since the last log line (`log_every_n_steps`), rank zero's device; the
first step (compilation, allocator warm-up) is left out. In metrics.csv beside the losses, and on the progress
bar as `epoch_h`.
"""

from __future__ import annotations

import time

import lightning as L
import torch


class Throughput(L.Callback):
    def __init__(self) -> None:
        self._audio_s = 0.0
        self._tokens = 0
        self._since: float | None = None
        self._epoch_audio_s: float | None = None
        self._logged = -1  # the optimiser step last logged (micro-batches of one step share it)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = getattr(getattr(trainer, "datamodule", None), "train_seconds", None)
        self._epoch_audio_s = seconds() if callable(seconds) else None  # another data module: no epoch estimate

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if not isinstance(batch, dict) or "audio_lens" not in batch:  # not a speech batch (an LM's)
            return
        now = time.perf_counter()
        if self._since is None:  # the first batch: start the clock after it
            self._since = now
            return
        rate = pl_module.model_cfg.frontend.sample_rate if hasattr(pl_module, "model_cfg") else 16_000
        # Summed as tensors, read once a log line: a float() per batch would wait for the GPU at every step
        self._audio_s = self._audio_s + batch["audio_lens"].sum() / rate
        if "target_lens" in batch:
            self._tokens = self._tokens + batch["target_lens"].sum() + len(batch["target_lens"])
        every = max(1, trainer.log_every_n_steps)
        step = trainer.global_step
        if step % every or step == 0 or step == self._logged:
            return
        self._logged = step
        elapsed, audio_s, tokens = now - self._since, float(self._audio_s), float(self._tokens)
        if elapsed <= 0 or audio_s <= 0:
            return
        audio_h_per_s = audio_s / 3600 / elapsed
        values = {"perf/audio_h_per_s": audio_h_per_s, "perf/tokens_per_s": tokens / elapsed}
        if self._epoch_audio_s:
            values["perf/epoch_h"] = self._epoch_audio_s / 3600 / (audio_h_per_s * trainer.world_size * 3600)
        for name, value in values.items():
            pl_module.log(name, torch.tensor(value, dtype=torch.float32), on_step=True, on_epoch=False,
                          batch_size=1, rank_zero_only=True, prog_bar=name == "perf/epoch_h")
        self._audio_s, self._tokens, self._since = 0.0, 0, now
