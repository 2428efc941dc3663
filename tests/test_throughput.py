"""Training logs what it costs: audio hours and tokens per second per device, and the wall time of an epoch."""

import lightning as L
import pytest
import torch

from asr.data.datamodule import ASRDataModule
from asr.model import ModelConfig
from asr.training.prepare import prepare_run
from asr.training.schedules import OptimConfig
from asr.training.task import ASRTask, TaskConfig, TokenizerConfig
from asr.training.throughput import Throughput
from training_fixtures import noise_corpus


class Record(L.Callback):
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rows.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("perf/")})


@pytest.mark.timeout(300)
def test_throughput_is_logged_and_the_epoch_estimate_follows_from_it(tmp_path):
    manifest = noise_corpus(tmp_path / "data", n=12)
    L.seed_everything(0)
    task = ASRTask(ModelConfig(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling_channels=8),
                   OptimConfig(lr=1e-3, warmup_steps=2), TokenizerConfig("char"), TaskConfig(cmvn_utterances=10))
    dm = ASRDataModule(train_manifests=str(manifest), valid_manifests=str(manifest), max_duration=4.0,
                       num_buckets=2, num_workers=0, seed=0)
    record = Record()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=8, limit_val_batches=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        callbacks=[Throughput(), record], use_distributed_sampler=False, default_root_dir=tmp_path,
                        log_every_n_steps=2)
    prepare_run(trainer, task, dm, "fit", None)
    trainer.fit(task, datamodule=dm)
    rows = [r for r in record.rows if r]
    assert rows, "no perf/ metric was logged"
    last = rows[-1]
    assert last["perf/audio_h_per_s"] > 0 and last["perf/tokens_per_s"] > 0
    epoch_s = sum(c.duration for c in dm.cuts("train"))
    assert last["perf/epoch_h"] == pytest.approx(epoch_s / 3600 / (last["perf/audio_h_per_s"] * 3600), rel=1e-4)
    assert torch.isfinite(torch.tensor(list(last.values()))).all()
