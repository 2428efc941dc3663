"""A global batch that does not move with the GPU count: the plan's arithmetic, `asr fit --print-plan`, 1 vs 2
DDP processes (gloo) stepping with the same audio and learning rate, resuming on another world size, speed
copies, and the LibriSpeech recipe's ESPnet settings."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from asr.cli import main
from asr.data.datamodule import ASRDataModule
from asr.data.batch_plan import plan_batches
from asr.training.plan import training_plan
from asr.training.schedules import OptimConfig
from training_fixtures import noise_corpus

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "librispeech" / "transformer_100h.yaml"


@pytest.mark.parametrize("world", [1, 2, 3, 4, 8, 16, 64])
def test_every_world_size_gets_the_same_audio_per_step_within_each_devices_memory(world):
    plan = plan_batches(4000, max_duration=1000, world_size=world)
    assert plan.accumulate * plan.world_size * plan.per_device == pytest.approx(4000)
    assert plan.per_device <= 1000 + 1e-9
    if plan.accumulate > 1:  # the fewest micro-batches: one fewer would overflow a device
        assert 4000 / (world * (plan.accumulate - 1)) > 1000


def test_one_and_eight_gpus_follow_the_same_steps_and_learning_rates():
    optim = OptimConfig(lr=2e-3, schedule="noam", warmup_steps=15000)
    one, eight = (training_plan(plan_batches(4000, 1000, w), 100.6 * 3600 * 3, 70, optim) for w in (1, 8))
    assert (one.batches.accumulate, eight.batches.accumulate) == (4, 1)
    assert one.steps_per_epoch == eight.steps_per_epoch and one.total_steps == eight.total_steps
    assert one.lr_path == eight.lr_path
    assert dict(one.lr_path)[15000] == pytest.approx(2e-3)


def _print_plan(capsys, *args: str) -> list[str]:
    assert main(["fit", "--config", str(RECIPE), "--print-plan", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_print_plan_for_one_and_eight_gpus_shows_the_same_audio_per_step_and_lr_path(capsys):
    one = _print_plan(capsys, "--train-hours", "100.6", "--trainer.devices", "1")
    eight = _print_plan(capsys, "--train-hours", "100.6", "--trainer.devices=8")
    pick = lambda lines, word: next(line for line in lines if line.startswith(word))  # noqa: E731
    assert "1 device(s) x 4 micro-batch(es) x 1000.0 s" in pick(one, "world size")
    assert "8 device(s) x 1 micro-batch(es) x 500.0 s" in pick(eight, "world size")
    for word in ("epoch:", "70 epochs", "warmup", "lr path"):
        assert pick(one, word) == pick(eight, word)
    assert "4000 s of audio per optimiser step" in pick(one, "world size")
    two_nodes = _print_plan(capsys, "--train-hours", "100.6", "--trainer.devices", "4", "--trainer.num_nodes", "2")
    assert pick(two_nodes, "lr path") == pick(one, "lr path")


def test_print_plan_reads_the_manifests_and_says_what_to_do_without_them(tmp_path, capsys):
    manifest = noise_corpus(tmp_path / "data", n=12)
    lines = _print_plan(capsys, "--data.train_manifests", str(manifest), "--trainer.devices", "2")
    assert any(line.startswith("epoch audio from 1 manifest(s) x 3 speed copies") for line in lines)
    assert main(["fit", "--config", str(RECIPE), "--print-plan", "--data.train_manifests",
                 str(tmp_path / "missing.jsonl.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--train-hours" in err[0] and "missing.jsonl.gz" in err[0]


def _metrics(run: Path) -> list[dict[str, str]]:
    [path] = run.rglob("metrics.csv")
    return list(csv.DictReader(path.open()))


def _fit(tmp_path: Path, manifest: Path, devices: int) -> tuple[list[tuple[int, float, float]], str]:
    run = tmp_path / f"run{devices}"
    cfg = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": devices, "strategy": "ddp" if devices > 1 else "auto",
                    "max_steps": 6, "limit_val_batches": 0, "enable_checkpointing": False, "callbacks": [],
                    "enable_progress_bar": False, "log_every_n_steps": 1, "default_root_dir": str(run),
                    "logger": {"class_path": "asr.training.logs.RunCSVLogger",
                               "init_args": {"save_dir": str(run), "name": "", "version": ""}}},
        "model": {"model": {"d_model": 32, "heads": 2, "enc_layers": 1, "dec_layers": 1, "ffn": 64,
                            "subsampling_channels": 8},
                  "tokenizer": {"kind": "char"}, "optim": {"warmup_steps": 4, "lr": 1e-3},
                  "task": {"cmvn_utterances": 10}},
        "data": {"train_manifests": str(manifest), "valid_manifests": str(manifest), "audio_per_step": 12.0,
                 "max_duration": 4.0, "num_buckets": 2, "num_workers": 0},
    }
    (tmp_path / f"cfg{devices}.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "asr.cli", "fit", "--config", str(tmp_path / f"cfg{devices}.yaml")],
                          env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in _metrics(run) if r.get("train/audio_s")]
    lr = {int(r["step"]): float(r["lr"]) for r in _metrics(run) if r.get("lr")}
    steps = [(int(r["step"]), float(r["train/audio_s"]), lr.get(int(r["step"]))) for r in rows]
    return steps, proc.stderr


@pytest.mark.timeout(600)
def test_one_and_two_processes_step_with_the_same_audio_and_learning_rate(tmp_path):
    """`asr fit` with data.audio_per_step 12 s and 4 s per device: 1 process accumulates 3 micro-batches of 4 s,
    2 processes (DDP, gloo) 2 of 3 s each; both take 12 s of audio a step and the same learning rate each step."""
    manifest = noise_corpus(tmp_path / "data", n=100)  # ~100 s: the 6 steps stay inside the first epoch
    one, log1 = _fit(tmp_path, manifest, 1)
    two, log2 = _fit(tmp_path, manifest, 2)
    assert "12 s of audio per optimiser step = 1 device(s) x 3 micro-batch(es) x 4.0 s" in log1
    assert "12 s of audio per optimiser step = 2 device(s) x 2 micro-batch(es) x 3.0 s" in log2
    assert len(one) == len(two) == 6
    for (s1, a1, lr1), (s2, a2, lr2) in zip(one, two):
        assert s1 == s2 and lr1 == pytest.approx(lr2)
        assert 0.5 * 12 <= a1 <= 12 + 1e-6 and 0.5 * 12 <= a2 <= 12 + 1e-6  # every micro-batch, every rank counted
    mean1, mean2 = (sum(a for _, a, _ in run) / len(run) for run in (one, two))
    assert abs(mean1 - mean2) / mean1 < 0.25, (mean1, mean2)


def test_a_mid_epoch_checkpoint_from_another_world_size_restarts_that_epoch_and_says_so(tmp_path, caplog):
    manifest = str(noise_corpus(tmp_path / "data", n=30))

    def dm_on(world: int, rank: int = 0) -> ASRDataModule:
        dm = ASRDataModule(train_manifests=manifest, max_duration=3.0, num_buckets=2, num_workers=0, seed=1)
        dm.trainer = SimpleNamespace(world_size=world, global_rank=rank, is_global_zero=rank == 0, training=True,
                                     current_epoch=0, fit_loop=None)
        dm.setup("train")
        return dm

    one = dm_on(1)
    loader = one.train_dataloader()
    for batch, _ in zip(loader, range(3)):
        one.on_before_batch_transfer(batch, 0)
    state = {"sampler": one._train_sampler.state_dict()}
    fresh = [b["ids"] for b in dm_on(2).train_dataloader()]
    resumed = dm_on(2)
    resumed.load_state_dict(state)
    with caplog.at_level(logging.WARNING):
        batches = [b["ids"] for b in resumed.train_dataloader()]
    assert batches == fresh  # epoch 0 again from its start, as rank 0 of 2 sees it
    [line] = [r.getMessage() for r in caplog.records if "cannot be replayed" in r.getMessage()]
    assert "on 1 device(s)" in line and "here 2 device(s)" in line


def test_speed_copies_hold_every_cut_at_every_speed(tmp_path):
    manifest = str(noise_corpus(tmp_path / "data", n=6))
    plain = ASRDataModule(train_manifests=manifest, shuffle=False).train_cuts()
    copies = ASRDataModule(train_manifests=manifest, shuffle=False, speed_copies=[0.9, 1.0, 1.1]).train_cuts()
    assert len(copies) == 3 * len(plain)
    total = sum(c.duration for c in plain)
    assert sum(c.duration for c in copies) == pytest.approx(total / 0.9 + total + total / 1.1, rel=1e-3)
    assert {c.id for c in copies} >= {c.id for c in plain}


def test_the_librispeech_recipe_carries_espnets_settings():
    """What ESPnet's LS-100 transformer config says, as the recipe and its model file resolve."""
    recipe = yaml.safe_load(RECIPE.read_text())
    model = yaml.safe_load((ROOT / "conf" / "model" / "transformer_ls100.yaml").read_text())
    assert (model["enc_layers"], model["ffn"], model["dec_layers"], model["dec_ffn"]) == (18, 1024, 6, 2048)
    assert (model["d_model"], model["heads"], model["attn_dropout"], model["dropout"]) == (256, 4, 0.1, 0.1)
    assert (model["ctc_weight"], model["label_smoothing"]) == (0.3, 0.1)
    f = model["frontend"]
    assert (f["n_fft"], f["time_warp"], f["freq_masks"], f["freq_mask_width"], f["time_masks"],
            f["time_mask_ratio"]) == (512, 5, 2, 27, 5, 0.05)
    opt = recipe["model"]["optim"]
    assert (opt["lr"], opt["warmup_steps"], opt["schedule"]) == (0.002, 15000, "noam")
    assert recipe["model"]["tokenizer"] == {"kind": "unigram", "vocab_size": 5000}
    assert recipe["trainer"]["max_epochs"] == 70 and recipe["data"]["speed_copies"] == [0.9, 1.0, 1.1]
    assert recipe["data"]["audio_per_step"] == 4000 and len(recipe["data"]["valid_manifests"]) == 2
    [ckpt] = [c for c in recipe["trainer"]["callbacks"] if c["class_path"].endswith("ModelCheckpoint")]
    assert (ckpt["init_args"]["monitor"], ckpt["init_args"]["mode"], ckpt["init_args"]["save_top_k"]) == \
        ("val_acc", "max", 10)
    lines = [line for line in RECIPE.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    uncited = [line for line in lines if "ESPnet" not in line and not line.rstrip().endswith(":")]
    assert len(uncited) <= 20, uncited  # paths, logging and our own plumbing; every copied setting says whose
