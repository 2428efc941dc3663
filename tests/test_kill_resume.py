"""Training that survives SIGKILL: `asr fit` killed at named moments and continued with `--ckpt_path last` ends with
the same weights as a run never interrupted; a damaged last.ckpt costs one line, not the run; resuming a run whose
time budget is spent says how to give it more, and with more it goes on with the schedule where it stopped; no run
deletes an earlier run's metrics.csv.

The moments come from tests/kill_probe.py (a callback that pauses `asr fit` where it is told and says so in a file),
so the test kills at the moment it names rather than after a guessed number of seconds.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from training_fixtures import noise_corpus

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "fsdd" / "digits.yaml"
TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8,
            conv_module=True, conv_kernel=5, dropout=0.1)  # dropout on: the random streams must resume too
MAX_STEPS = 24  # 9 batches an epoch on this corpus: epochs end at steps 9 and 18, training stops inside epoch 2


def _overrides(tmp: Path, manifest: Path, run: Path, **trainer) -> Path:
    """The fsdd recipe (its trainer defaults, checkpoint callbacks and CheckpointIO, logger class, cosine schedule)
    made small: the tiny model on a noise corpus, bounded by steps, plus a checkpoint every 4 steps (mid-epoch
    checkpoints at known steps, saved from the hook the recipe's time-based one uses) and the probe."""
    cfg = {
        "trainer": {
            "max_time": None, "max_epochs": -1, "max_steps": MAX_STEPS, "enable_progress_bar": False,
            "enable_model_summary": False, "log_every_n_steps": 2,
            "logger": {"class_path": "asr.training.logs.RunCSVLogger",
                       "init_args": {"save_dir": str(run), "name": "", "version": ""}},
            "callbacks+": [
                {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                 "init_args": {"every_n_train_steps": 4, "save_top_k": 0, "save_last": True,
                               "enable_version_counter": False}},
                {"class_path": "kill_probe.PauseAt"},
            ],
            **trainer,
        },
        "model": {"model": TINY, "tokenizer": {"kind": "char"}, "optim": {"warmup_steps": 5},
                  "task": {"cmvn_utterances": 10, "decode": {"beam": 1}}},
        "data": {"train_manifests": str(manifest), "valid_manifests": str(manifest), "test_manifests": None,
                 "train_repeats": None, "max_duration": 4.0, "num_buckets": 2, "num_workers": 0},
    }
    path = tmp / f"{run.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env(flag: Path, pause_at: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "CUDA_VISIBLE_DEVICES": "",
           "ASR_TEST_PAUSED": str(flag)}
    env.pop("ASR_TEST_PAUSE_AT", None)
    if pause_at:
        env["ASR_TEST_PAUSE_AT"] = pause_at
    return env


def _fit_args(cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asr.cli", "fit", "--config", str(RECIPE), "--config", str(cfg), "--threads", "1",
            *extra]


def _run_to_end(cfg: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(_fit_args(cfg, *extra), env=_env(cwd / "never", None), capture_output=True, text=True,
                          timeout=240, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _kill_at(cfg: Path, cwd: Path, moment: str, *extra: str) -> tuple[dict, str]:
    """Start `asr fit`, wait until the probe says it is at `moment`, SIGKILL it there: (the probe's report, output)."""
    flag = cwd / "paused.json"
    flag.unlink(missing_ok=True)
    out = cwd / f"killed-{moment.replace(':', '-')}.log"
    with out.open("w") as log:
        proc = subprocess.Popen(_fit_args(cfg, *extra), env=_env(flag, moment), stdout=log, stderr=subprocess.STDOUT,
                                cwd=cwd)
        deadline = time.monotonic() + 240
        while not flag.exists():
            if proc.poll() is not None:
                raise AssertionError(f"asr fit ended (rc {proc.returncode}) before {moment}: {out.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"asr fit never reached {moment}")
            time.sleep(0.02)
        report = json.loads(flag.read_text())  # written before the probe pauses: complete once it exists
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return report, out.read_text()


def _last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")


@pytest.mark.timeout(400)
def test_sigkill_at_any_moment_then_ckpt_path_last_gives_the_uninterrupted_weights(tmp_path):
    """One run killed four times, each continued with `--ckpt_path last`: mid-epoch (resumes from a mid-epoch
    checkpoint), during validation (after the epoch's last step, before its checkpoint), just after an epoch-end
    checkpoint, and halfway through writing last.ckpt (after its last.ckpt was truncated by hand, so that resume
    falls back to the epoch's top-k checkpoint). Its final weights must equal the uninterrupted run's exactly: the
    same batches in the same order, the same dropout draws, the same arithmetic on one CPU thread."""
    manifest = noise_corpus(tmp_path / "data", n=24)
    straight, chain = tmp_path / "straight", tmp_path / "killed"
    _run_to_end(_overrides(tmp_path, manifest, straight), tmp_path)
    cfg = _overrides(tmp_path, manifest, chain)
    reports, logs = [], {}
    for moment in ("step:6", "validation:0", "saved:0", "writing:1"):
        report, logs[moment] = _kill_at(cfg, tmp_path, moment, "--ckpt_path", "last")
        reports.append(report)
        if moment == "saved:0":  # a last.ckpt cut short by something other than our writer (a copy, a full disk)
            last = chain / "checkpoints" / "last.ckpt"
            last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    final = _run_to_end(cfg, tmp_path, "--ckpt_path", "last")

    # where each process started: the newest checkpoint before the previous kill
    assert [r["resumed_at"] for r in reports] == [0, 4, 8, 9], reports
    assert [r["global_step"] for r in reports] == [6, 9, 9, 18], reports
    warned = [line for line in logs["writing:1"].splitlines() if line.startswith("warning:") and "last.ckpt" in line]
    assert len(warned) == 1 and "epoch=0-" in warned[0], logs["writing:1"][-3000:]
    assert "Restored all states from the checkpoint at" in final.stderr
    assert "epoch=1-" in final.stderr.split("Restored all states from the checkpoint at")[1].splitlines()[0]
    assert not list((chain / "checkpoints").glob("*.partial"))  # the killed write's leftover was cleared

    a, b = _last(straight), _last(chain)
    assert a["global_step"] == b["global_step"] == MAX_STEPS
    worst = max((a["state_dict"][k].double() - b["state_dict"][k].double()).abs().max().item() for k in a["state_dict"])
    print(f"kills: {reports}; largest weight difference {worst}")
    assert worst == 0.0, f"weights differ by up to {worst} after kills at {reports}"
    assert (chain / "metrics.csv").is_file() and len(list(chain.glob("metrics*.csv"))) >= 4  # every run's logs kept


def _lrs(path: Path) -> list[float]:
    with path.open() as f:
        return [float(row["lr"]) for row in csv.DictReader(f) if row.get("lr")]


@pytest.mark.timeout(300)
def test_resuming_a_spent_time_budget_says_how_and_more_time_goes_on_with_the_schedule(tmp_path):
    """The fsdd recipe bounded by the clock (its cosine over max_time): resumed with the budget it used up, it says
    how to give it more and trains nothing; resumed with more, it trains on at the learning rate it ended with
    (the cosine's floor) instead of jumping back up the curve; and the first run's metrics.csv survives both."""
    manifest = noise_corpus(tmp_path / "data", n=24)
    run = tmp_path / "run"
    budget = ["--trainer.max_time", "00:00:00:06"]
    cfg = _overrides(tmp_path, manifest, run, max_steps=-1, max_epochs=1000)
    _run_to_end(cfg, tmp_path, *budget)
    first_metrics = (run / "metrics.csv").read_bytes()
    steps = _last(run)["global_step"]
    floor = 0.002 * 0.01  # the recipe's lr and min_lr_ratio
    assert steps > 5 and _lrs(run / "metrics.csv")[-1] < 0.1 * 0.002  # warmed up and decayed over the 6 s

    again = _run_to_end(cfg, tmp_path, *budget, "--ckpt_path", "last")
    lines = [line for line in again.stderr.splitlines() if line.startswith("warning:") and "max_time" in line]
    assert len(lines) == 1 and "--trainer.max_time 00:00:00:12" in lines[0], again.stderr[-3000:]
    assert _last(run)["global_step"] == steps

    _run_to_end(cfg, tmp_path, "--trainer.max_time", "00:00:00:10", "--ckpt_path", "last")
    assert _last(run)["global_step"] > steps
    [resumed] = [p for p in run.glob("metrics.*.csv") if _lrs(p)]
    lrs = _lrs(resumed)
    assert lrs and max(lrs) == pytest.approx(floor, rel=1e-3), lrs  # before: back to ~1e-3 at once
    assert (run / "metrics.csv").read_bytes() == first_metrics


class _Timer:
    def __init__(self, budget: float) -> None:
        self.budget, self.elapsed = budget, 0.0

    def time_remaining(self, stage: str) -> float:
        return self.budget - self.elapsed


def test_the_clock_driven_cosine_goes_on_from_where_a_checkpoint_left_it():
    from asr.training.task import ASRTask

    task = ASRTask()

    def progress(budget: float, elapsed: float) -> float:
        timer = _Timer(budget)
        timer.elapsed = elapsed
        return task._clock_progress(timer, elapsed)

    task._clock_anchor = (30.0, 0.3)  # a checkpoint 30 s into a 100 s budget
    for t in (30.0, 65.0, 100.0):
        assert progress(100.0, t) == pytest.approx(t / 100)  # resumed with the same budget: as if never stopped
    assert progress(200.0, 30.0) == pytest.approx(0.3)  # with twice the budget: no jump at the resume,
    assert progress(200.0, 115.0) == pytest.approx(0.65)  # the rest of the cosine spread over the new budget
    assert progress(200.0, 200.0) == pytest.approx(1.0)
    task._clock_anchor = (100.0, 1.0)  # a finished budget, given more: the floor, not the curve again
    assert progress(200.0, 150.0) == 1.0


def test_a_failed_checkpoint_write_leaves_the_previous_file_whole(tmp_path):
    from asr.training.checkpoint_io import AtomicCheckpointIO

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full, say")

    io_ = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io_.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    with pytest.raises(RuntimeError, match="disk full"):
        io_.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "bad": Unpicklable()}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_ckpt_path_last_skips_a_damaged_checkpoint_and_refuses_when_none_is_readable(tmp_path, capsys):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from asr.errors import UserError
    from asr.training.resume import resolve_last

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    trainer = SimpleNamespace(checkpoint_callbacks=[ModelCheckpoint(dirpath=folder)], is_global_zero=True)
    assert resolve_last(trainer) is None  # nothing yet: train from the beginning
    good = folder / "epoch=0-val_wer=0.5000.ckpt"
    torch.save({"state_dict": {}, "loops": {}, "global_step": 9}, good)
    last = folder / "last.ckpt"
    last.write_bytes(good.read_bytes()[:100])
    (folder / "last.ckpt.partial").write_bytes(b"half")
    os.utime(good, (1, 1))  # older than last.ckpt
    assert resolve_last(trainer) == str(good)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 1 and str(last) in err[0] and str(good) in err[0], err
    assert not (folder / "last.ckpt.partial").exists()
    good.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="no checkpoint of this run can be read"):
        resolve_last(trainer)


def test_the_clock_checkpoint_leaves_an_epochs_last_batch_to_the_epoch_end_checkpoint(monkeypatch):
    """Lightning resumes a checkpoint taken at an epoch's last batch by skipping that epoch's validation: the
    recipes' checkpoint by the clock waits for the next batch there (the epoch-end checkpoint comes first)."""
    from datetime import timedelta

    from lightning.pytorch.callbacks import ModelCheckpoint

    from asr.training.resume import ClockCheckpoint

    saved = []
    monkeypatch.setattr(ModelCheckpoint, "on_train_batch_end", lambda self, *args: saved.append(args[-1]))
    cb = ClockCheckpoint(timedelta(minutes=1))
    assert (cb.save_top_k, cb.save_last, cb._train_time_interval) == (0, True, timedelta(minutes=1))
    for batch_idx, is_last in ((3, False), (8, True), (0, False)):
        progress = SimpleNamespace(is_last_batch=is_last)
        trainer = SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
        cb.on_train_batch_end(trainer, None, None, None, batch_idx)
    assert saved == [3, 0]
