"""The training system: exact mid-epoch resume, checkpoint export, and DDP on CPU (gloo) through `asr fit`."""

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from asr.training.checkpoints import export
from asr.training.prepare import prepare_run
from asr.data.datamodule import ASRDataModule
from asr.training.task import ASRTask, TaskConfig, TokenizerConfig
from asr.model import ModelConfig
from asr.model.io import load_model_file
from asr.training.schedules import OptimConfig
from training_fixtures import ddp_fit, noise_corpus

TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8,
            conv_module=True, conv_kernel=5, dropout=0.1)  # dropout on: resume must restore random state


def _task() -> ASRTask:
    return ASRTask(ModelConfig(**TINY), OptimConfig(lr=1e-3, warmup_steps=5), TokenizerConfig("char"),
                   TaskConfig(cmvn_utterances=10))


def _fit(manifest: Path, root: Path, max_steps: int, ckpt_every: int | None = None, ckpt_path=None,
         callbacks_extra: list | None = None, **trainer_args) -> ASRTask:
    L.seed_everything(0, workers=True)
    task = _task()
    dm = ASRDataModule(train_manifests=str(manifest), valid_manifests=str(manifest), max_duration=4.0,
                       num_buckets=2, num_workers=0, seed=0)
    callbacks = [ModelCheckpoint(dirpath=root / "ckpt", every_n_train_steps=ckpt_every, save_last=True,
                                 save_top_k=0)] if ckpt_every else []
    callbacks = (callbacks_extra or []) + callbacks
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, limit_val_batches=0, logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=bool(ckpt_every),
        callbacks=callbacks, use_distributed_sampler=False, default_root_dir=root, **trainer_args,
    )
    prepare_run(trainer, task, dm, "fit", ckpt_path)  # tokenizer.json and cmvn.json in `root`, as asr fit makes them
    trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
    return task


def test_resume_mid_epoch_equals_uninterrupted(tmp_path):
    manifest = noise_corpus(tmp_path / "data")
    straight = _fit(manifest, tmp_path / "a", max_steps=14)
    _fit(manifest, tmp_path / "b", max_steps=5, ckpt_every=5)  # "killed" after step 5, mid-epoch 0
    last = tmp_path / "b" / "ckpt" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 5  # loads without unpickling code
    resumed = _fit(manifest, tmp_path / "b", max_steps=14, ckpt_path=str(last))
    for (name, a), (_, b) in zip(straight.net.state_dict().items(), resumed.net.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=f"{name} differs after resume")


def test_bf16_mixed_with_gradient_clipping_trains_on_the_cpu(tmp_path):
    """The recipes' GPU setting (bf16-mixed, clip 5) and `--trainer.precision bf16-mixed` on a CPU with native
    bf16: Lightning refuses to clip for a fused AdamW, so the task must pick the foreach one there."""
    manifest = noise_corpus(tmp_path / "data", n=8)
    one = _fit(manifest, tmp_path / "a", max_steps=1, precision="bf16-mixed", gradient_clip_val=5.0)
    three = _fit(manifest, tmp_path / "b", max_steps=3, precision="bf16-mixed", gradient_clip_val=5.0)
    assert three.trainer.global_step == 3
    before, after = one.net.state_dict(), three.net.state_dict()
    assert all(v.dtype == torch.float32 and v.isfinite().all() for v in after.values())  # fp32 master weights
    assert any(not torch.equal(before[k], after[k]) for k in before)  # that steps 2 and 3 updated


def test_export_writes_a_self_contained_model(tmp_path):
    manifest = noise_corpus(tmp_path / "data", n=8)
    task = _fit(manifest, tmp_path / "run", max_steps=2, ckpt_every=2)
    export([tmp_path / "run" / "ckpt" / "last.ckpt"], tmp_path / "model.pt")
    model, tok, meta = load_model_file(tmp_path / "model.pt")
    assert tok.state() == task.tokenizer.state() and meta["global_step"] == 2
    for k, v in task.net.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)


@pytest.mark.timeout(600)
def test_ddp_two_processes_disjoint_data_uneven_batches(tmp_path):
    """`asr fit --trainer.strategy ddp` with 2 CPU processes: ranks see disjoint cuts, and dynamic batches that
    don't split evenly across ranks still finish (no hang)."""
    manifest = noise_corpus(tmp_path / "data", n=23)  # odd count, varied durations: uneven batches
    proc = ddp_fit(tmp_path, TINY, {"train_manifests": str(manifest), "valid_manifests": str(manifest),
                                    "max_duration": 3.0, "num_buckets": 2, "num_workers": 0})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [set((tmp_path / "ids" / f"rank{r}_epoch0.txt").read_text().split()) for r in (0, 1)]
    assert ranks[0] and ranks[1]
    assert not ranks[0] & ranks[1], "ranks saw the same cuts"


RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*/*.yaml"))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("recipe", RECIPES, ids=[f"{r.parent.name}/{r.name}" for r in RECIPES])
def test_every_recipe_trains_two_steps_on_the_cpu(recipe, tmp_path):
    """Each shipped recipe, as written (its model size, precision, clipping, optimiser, schedule, callbacks, speed
    copies), takes two optimiser steps of 8 s of audio (micro-batches of at most 4 s, accumulated) on a 12-cut
    fixture corpus (fewer cuts than the recipes' up to 30 buckets) with only the device and the data overridden.
    The GPU recipes keep bf16-mixed with clipping: that combination once crashed at the first step."""
    model = (yaml.safe_load(recipe.read_text()).get("model") or {}).get("model")
    model = model if isinstance(model, dict) else {}  # a recipe may name a size file instead
    translate_to = model.get("target_language") if model.get("task") == "translate" else None
    manifest = noise_corpus(tmp_path / "data", n=12, translate_to=translate_to)
    args = ["--config", str(recipe), "--trainer.accelerator", "cpu", "--trainer.devices", "1",
            "--trainer.strategy", "auto", "--trainer.max_steps", "2", "--trainer.max_time", "null",
            "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(tmp_path / "run"),
            "--data.train_manifests", str(manifest), "--data.valid_manifests", str(manifest),
            "--data.test_manifests", "null", "--data.train_repeats", "null", "--data.num_workers", "0",
            "--data.max_duration", "4", "--data.audio_per_step", "8",  # 2 micro-batches a step (or 1 of 8 s)
            "--model.tokenizer.kind", "char", "--model.task.cmvn_utterances", "10",
            "--model.init_from", "null"]  # a recipe that starts from another's model file trains from scratch here
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "asr.cli", "fit", *args], env=env, capture_output=True, text=True,
                          timeout=280, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [last] = [p for p in tmp_path.rglob("last.ckpt")]
    assert torch.load(last, weights_only=True, map_location="cpu")["global_step"] == 2


def test_a_setting_lightning_rejects_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Lightning's MisconfigurationException (a callback that needs a logger, no GPU for a GPU recipe, ...) is a
    user error: `asr fit` prints one line, with the fix where it knows one, and exits 2."""
    from asr.cli import main

    manifest = noise_corpus(tmp_path / "data", n=6)
    monkeypatch.chdir(tmp_path)
    recipe = [r for r in RECIPES if r.parent.name == "librispeech"][0]  # GPU settings
    data = ["--data.train_manifests", str(manifest), "--data.valid_manifests", str(manifest), "--data.test_manifests",
            "null", "--data.num_workers", "0", "--model.tokenizer.kind", "char", "--model.task.cmvn_utterances", "5"]
    cpu = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.strategy", "auto"]
    lr_monitor = "--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor"  # needs a logger
    rc = main(["fit", "--config", str(recipe), *cpu, lr_monitor, "--trainer.logger", "false", *data])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(err) == 1 and "LearningRateMonitor" in err[0], err
    if not torch.cuda.is_available():
        rc = main(["fit", "--config", str(recipe), *data])
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert rc == 2 and len(err) == 1 and "--trainer.accelerator cpu" in err[0], err


@pytest.mark.timeout(400)
def test_fit_then_average_best_then_test_through_the_command_line(tmp_path):
    """A recipe trained for two epochs with validation: `asr average --best` finds the checkpoints the callback
    recorded (the recipe's file names are not read), its model file loads, and `asr test` runs the test loop
    (decoding with the same policy as validation) and reports test_wer."""
    manifest = noise_corpus(tmp_path / "data", n=8)
    recipe = [r for r in RECIPES if r.parent.name == "fsdd"][0]
    common = ["--config", str(recipe), "--threads", "1", "--device", "cpu", "--trainer.max_time", "null",
              "--trainer.enable_progress_bar", "false", "--data.train_manifests", str(manifest),
              "--data.valid_manifests", str(manifest), "--data.test_manifests", str(manifest),
              "--data.train_repeats", "null", "--data.num_workers", "0", "--data.max_duration", "6",
              "--model.tokenizer.kind", "char", "--model.task.cmvn_utterances", "8",
              "--model.task.decode.beam", "2"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}

    def asr(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "asr.cli", *args], env=env, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)

    fit = asr("fit", *common, "--trainer.max_epochs", "2")
    assert fit.returncode == 0, fit.stderr[-3000:]
    [folder] = {p.parent for p in tmp_path.rglob("last.ckpt")}
    averaged = asr("average", "--best", "2", str(folder), "--out", "avg.pt")
    assert averaged.returncode == 0, averaged.stderr[-3000:]
    assert "wrote model file avg.pt" in averaged.stdout and "average of 2 checkpoint(s)" in averaged.stdout
    load_model_file(tmp_path / "avg.pt", torch.device("cpu"))
    tested = asr("test", *common, "--ckpt_path", str(folder / "last.ckpt"))
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "test_wer" in tested.stdout + tested.stderr


def test_ema_weights_are_the_moving_average_of_the_steps_and_what_the_checkpoint_exports(tmp_path):
    """asr.training.ema.EMA(decay 0.5): after steps with weights w1, w2, w3 the model holds e3 = 0.5 e2 + 0.5 w3
    (e1 = w1); last.ckpt exports e3 and keeps w3 to resume from."""
    from asr.training.ema import EMA

    class Record(L.Callback):
        def __init__(self) -> None:
            self.steps: list[dict[str, torch.Tensor]] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.steps.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})

    manifest = noise_corpus(tmp_path / "data", n=8)
    rec = Record()
    task = _fit(manifest, tmp_path / "run", max_steps=3, ckpt_every=3, callbacks_extra=[rec, EMA(decay=0.5)])
    w1, w2, w3 = rec.steps
    key = "decoder.out.weight" if "decoder.out.weight" in w1 else next(k for k in w1 if k.endswith("weight"))
    ema = {k: 0.25 * w1[k] + 0.25 * w2[k] + 0.5 * w3[k] for k in w1 if w1[k].is_floating_point()}
    assert not torch.allclose(ema[key], w3[key])  # the average is not the last weights
    for k, v in ema.items():
        torch.testing.assert_close(task.net.state_dict()[k], v, msg=f"{k} is not the average")
    ckpt = torch.load(tmp_path / "run" / "ckpt" / "last.ckpt", weights_only=False)
    torch.testing.assert_close(ckpt["current_model_state"][f"net.{key}"], w3[key])
    export([tmp_path / "run" / "ckpt" / "last.ckpt"], tmp_path / "model.pt")
    model, _, _ = load_model_file(tmp_path / "model.pt")
    for k, v in ema.items():
        torch.testing.assert_close(model.state_dict()[k], v)
    # A run that ends before the average starts keeps its trained weights, in the model and the checkpoint.
    rec = Record()
    late = _fit(manifest, tmp_path / "late", max_steps=3, ckpt_every=3,
                callbacks_extra=[rec, EMA(decay=0.5, update_starting_at_step=100)])
    torch.testing.assert_close(late.net.state_dict()[key], rec.steps[-1][key])
    ckpt = torch.load(tmp_path / "late" / "ckpt" / "last.ckpt", weights_only=False)
    torch.testing.assert_close(ckpt["state_dict"][f"net.{key}"], rec.steps[-1][key])
