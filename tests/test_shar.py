"""Training from lhotse Shar shards: `asr export-shar` keeps every cut and its audio; each loader worker streams
its own shards, reshuffled per epoch, the same number of batches an epoch on every rank; a killed run resumes
exactly, batch for batch, with two loader workers."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lhotse import CutSet
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from asr.cli import main
from asr.data.datamodule import ASRDataModule
from asr.data.manifests import load_cuts
from asr.data.shar import duration_bins, list_shards
from asr.model import ModelConfig
from asr.training.prepare import prepare_run
from asr.training.schedules import OptimConfig
from asr.training.task import ASRTask, TaskConfig, TokenizerConfig
from training_fixtures import ddp_fit, noise_corpus

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def shar(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shar")
    manifest = noise_corpus(root / "data", n=23)
    assert main(["export-shar", str(manifest), "--out", str(root / "shar"), "--shard-size", "3"]) == 0
    return manifest, root / "shar"


def test_export_keeps_every_cut_and_its_audio(shar):
    manifest, folder = shar
    shards = list_shards([str(folder)])
    assert len(shards) == 8  # ceil(23 / 3)
    back = {c.id: c for c in CutSet.from_shar(in_dir=folder)}
    for cut in load_cuts(manifest):
        assert back[cut.id].supervisions[0].text == cut.supervisions[0].text
        np.testing.assert_allclose(back[cut.id].load_audio(), cut.load_audio(), atol=1 / 32768)


def _dm(folder: Path, workers: int) -> ASRDataModule:
    return ASRDataModule(shar_dirs=[str(folder)], valid_manifests=None, max_duration=3.0, num_buckets=2,
                         num_workers=workers, seed=0)


def _epoch(dm: ASRDataModule, epoch: int) -> list[dict]:
    loader = dm.train_dataloader()
    dm._epoch = epoch  # no trainer: the loader asks the data module for its epoch
    return [{"ids": b["ids"], "worker": b["shard_worker"]} for b in loader]


def test_workers_read_their_own_shards_reshuffled_each_epoch(shar):
    _, folder = shar
    dm = _dm(folder, workers=2)
    dm.setup("fit")
    first, second = _epoch(dm, 0), _epoch(dm, 1)
    assert len(first) == len(second) == len(dm.train_dataloader().dataset)  # the epoch's count, every epoch
    assert [b["worker"] for b in first][:4] == [0, 1, 0, 1]  # the workers take turns
    shard_of = {c.id: i for i, s in enumerate(list_shards([str(folder)])) for c in CutSet.from_shar(
        fields={"cuts": [s.cuts]})}
    by_worker = [{shard_of[i] for b in first if b["worker"] == w for i in b["ids"]} for w in (0, 1)]
    assert by_worker[0] and by_worker[1] and not by_worker[0] & by_worker[1]  # disjoint shards
    assert [b["ids"] for b in first] != [b["ids"] for b in second]  # reshuffled


def test_duration_bins_split_the_audio_evenly():
    durations = [1.0] * 50 + [10.0] * 5
    edges = duration_bins(durations, 2)
    assert len(edges) == 1 and 1.0 <= edges[0] <= 10.0
    assert duration_bins([3.0], 4) == [3.0]


class Ids(Callback):
    def __init__(self) -> None:
        self.ids: list[list[str]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.ids.append(list(batch["ids"]))


def _fit(folder: Path, root: Path, max_steps: int, ckpt_every: int | None = None, ckpt_path=None) -> tuple:
    L.seed_everything(0, workers=True)
    task = ASRTask(ModelConfig(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling_channels=8,
                               dropout=0.1), OptimConfig(lr=1e-3, warmup_steps=5), TokenizerConfig("char"),
                   TaskConfig(cmvn_utterances=10))
    ids = Ids()
    callbacks = [ids] + ([ModelCheckpoint(dirpath=root / "ckpt", every_n_train_steps=ckpt_every, save_last=True,
                                          save_top_k=0)] if ckpt_every else [])
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=max_steps, limit_val_batches=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=bool(ckpt_every),
                        callbacks=callbacks, use_distributed_sampler=False, default_root_dir=root)
    dm = _dm(folder, workers=2)
    prepare_run(trainer, task, dm, "fit", ckpt_path)
    trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
    return task, ids.ids


def test_a_killed_run_resumes_exactly_from_shards(shar, tmp_path):
    """Killed mid-epoch (step 5 of an epoch of ~8 batches), resumed: the same batches after it as an uninterrupted
    run's, across the epoch boundary, and the same weights."""
    _, folder = shar
    straight, seen = _fit(folder, tmp_path / "a", max_steps=13)
    _, before = _fit(folder, tmp_path / "b", max_steps=5, ckpt_every=5)
    resumed, after = _fit(folder, tmp_path / "b", max_steps=13, ckpt_path=str(tmp_path / "b" / "ckpt" / "last.ckpt"))
    assert before + after == seen
    for (name, a), (_, b) in zip(straight.net.state_dict().items(), resumed.net.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)



@pytest.mark.timeout(600)
def test_two_ranks_read_disjoint_shards_through_asr_fit(shar, tmp_path):
    """`asr fit --trainer.strategy ddp` with 2 CPU processes on shards: each rank trains on its own shards' cuts
    and both finish their epochs (the same batch count on each: no rank waits at an epoch's end)."""
    manifest, folder = shar
    model = {"d_model": 32, "heads": 2, "enc_layers": 1, "dec_layers": 1, "ffn": 64, "subsampling_channels": 8}
    proc = ddp_fit(tmp_path, model, {"train_manifests": None, "shar_dirs": [str(folder)],
                                     "valid_manifests": str(manifest), "max_duration": 3.0, "num_buckets": 2,
                                     "num_workers": 1})
    assert proc.returncode == 0, proc.stderr[-3000:]
    shard_of = {c.id: i for i, s in enumerate(list_shards([str(folder)]))
                for c in CutSet.from_shar(fields={"cuts": [s.cuts]})}
    for epoch in (0, 1):
        ranks = [(tmp_path / "ids" / f"rank{r}_epoch{epoch}.txt").read_text().split() for r in (0, 1)]
        shards = [{shard_of[i] for i in r} for r in ranks]
        assert ranks[0] and ranks[1] and not shards[0] & shards[1], (epoch, shards)
