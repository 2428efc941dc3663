"""The training inputs made before training (asr/training/prepare.py) and what a run says as it starts:
`asr prepare-training` writes the tokenizer and CMVN files that `asr fit` trains from without reading the training
data for them; `asr fit` alone makes the missing ones first; a resume measures nothing again; a file made for other
settings is one line naming the fix; the progress bar counts the budget; a warmup longer than the step budget is a
warning at the start."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
import yaml

import asr.training.prepare as prepare
from asr.cli import main
from asr.data.datamodule import ASRDataModule
from asr.data.stats import read_cmvn_file, read_tokenizer_file
from asr.tokenizer import train_tokenizer
from asr.training.progress import BudgetProgressBar, use_budget_bar
from asr.training.schedules import OptimConfig
from asr.training.task import ASRTask
from training_fixtures import noise_corpus

TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8)


def _recipe(tmp_path: Path, manifest: Path) -> Path:
    cfg = {
        "trainer": {"accelerator": "cpu", "devices": 1, "max_steps": 2, "limit_val_batches": 0, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False,
                    "default_root_dir": str(tmp_path / "run")},
        "model": {"model": TINY, "tokenizer": {"kind": "char"}, "optim": {"warmup_steps": 1},
                  "task": {"cmvn_utterances": 5}},
        "data": {"train_manifests": str(manifest), "valid_manifests": str(manifest), "max_duration": 4.0,
                 "num_buckets": 2, "num_workers": 0},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _refuse_reading_the_data(monkeypatch) -> None:
    """Training tokenizers, measuring CMVN or reading the training cuts for them now fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the training data was read for the tokenizer or the CMVN statistics")

    monkeypatch.setattr(ASRDataModule, "train_cuts", refuse)
    monkeypatch.setattr(prepare, "compute_cmvn", refuse)
    monkeypatch.setattr(prepare, "train_tokenizer_from_cuts", refuse)


def _trained(run: Path) -> tuple[dict, torch.Tensor, torch.Tensor, int]:
    """(tokenizer state, CMVN mean, std, step) of the run's last.ckpt."""
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    state = ckpt["state_dict"]
    return ckpt["asr_tokenizer"], state["net.cmvn.mean"], state["net.cmvn.std"], ckpt["global_step"]


def test_prepare_training_writes_the_files_fit_trains_from_without_reading_the_data(tmp_path, monkeypatch, capsys):
    recipe = _recipe(tmp_path, noise_corpus(tmp_path / "data", n=8))
    run = tmp_path / "run"
    assert main(["prepare-training", "--config", str(recipe)]) == 0
    assert f"wrote {run / 'tokenizer.json'}: char tokenizer" in capsys.readouterr().out
    tokenizer, _ = read_tokenizer_file(run / "tokenizer.json")
    mean, std, made = read_cmvn_file(run / "cmvn.json")
    assert mean.shape == std.shape == (80,) and made["utterances"] == 5

    _refuse_reading_the_data(monkeypatch)
    assert main(["fit", "--config", str(recipe)]) == 0
    tok_state, cmvn_mean, cmvn_std, step = _trained(run)
    assert step == 2
    assert tok_state == tokenizer.state()
    assert torch.equal(cmvn_mean, mean) and torch.equal(cmvn_std, std)


def test_fit_makes_what_is_missing_first_and_a_resume_measures_nothing_again(tmp_path, monkeypatch, capsys):
    """One command trains from scratch; resuming takes the tokenizer and CMVN from the checkpoint, even in a run
    folder without the files (a run begun before them), and writes none."""
    recipe = _recipe(tmp_path, noise_corpus(tmp_path / "data", n=8))
    run = tmp_path / "run"
    assert main(["fit", "--config", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {run / 'tokenizer.json'}" in out and f"wrote {run / 'cmvn.json'}" in out
    tokenizer, _ = read_tokenizer_file(run / "tokenizer.json")
    mean, std, _ = read_cmvn_file(run / "cmvn.json")
    first = _trained(run)
    assert first[0] == tokenizer.state() and torch.equal(first[1], mean) and torch.equal(first[2], std)

    (run / "tokenizer.json").unlink()
    (run / "cmvn.json").unlink()
    _refuse_reading_the_data(monkeypatch)
    assert main(["fit", "--config", str(recipe), "--trainer.max_steps", "4", "--ckpt_path", "last"]) == 0
    resumed = _trained(run)
    assert resumed[3] == 4
    assert resumed[0] == first[0] and torch.equal(resumed[1], first[1]) and torch.equal(resumed[2], first[2])
    assert not (run / "tokenizer.json").exists() and not (run / "cmvn.json").exists()


def test_a_file_made_for_other_settings_is_one_line_naming_the_fix(tmp_path, capsys):
    recipe = _recipe(tmp_path, noise_corpus(tmp_path / "data", n=6))
    assert main(["prepare-training", "--config", str(recipe)]) == 0
    capsys.readouterr()
    for override, says in ((["--model.tokenizer.kind", "word"], "holds a char tokenizer, the config asks for word"),
                           (["--model.model.frontend.n_mels", "40"], "was measured with another front end: n_mels 80 "
                                                                      "(here 40)")):
        assert main(["fit", "--config", str(recipe), *override]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and says in err[0] and "asr prepare-training --force" in err[0], err
    assert main(["prepare-training", "--config", str(recipe), "--model.tokenizer.kind", "word", "--force"]) == 0
    assert read_tokenizer_file(tmp_path / "run" / "tokenizer.json")[0].kind == "word"


def test_a_step_budget_shorter_than_the_warmup_is_a_warning_at_the_start(capsys):
    task = ASRTask(optim=OptimConfig(warmup_steps=400))
    task.build(train_tokenizer(["one two"], "char"))
    for max_steps, warned in ((300, True), (400, True), (1000, False), (-1, False)):
        task.trainer = SimpleNamespace(world_size=1, callbacks=[], max_steps=max_steps, is_global_zero=True)
        task.on_fit_start()
        err = capsys.readouterr().err
        assert (f"warmup (400 steps) does not end before training does ({max_steps} steps)" in err) == warned, err


class _Step(L.LightningModule):
    """The smallest module that trains on the data module's batches."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.w * batch["audio"].mean()).sum() + self.w**2

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("budget, total, unit", [({"max_steps": 3}, 3, "steps"), ({"max_epochs": 2}, 2, "epochs")])
def test_the_training_progress_bar_counts_the_budget(budget, total, unit, tmp_path, capsys):
    """Lightning's bar counted an epoch's batches, which lhotse's sampler does not know ahead: `0/?`."""
    manifest = noise_corpus(tmp_path / "data", n=6)
    dm = ASRDataModule(train_manifests=str(manifest), max_duration=4.0, num_buckets=2, num_workers=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, use_distributed_sampler=False, default_root_dir=tmp_path, **budget)
    use_budget_bar(trainer)
    [bar] = [cb for cb in trainer.callbacks if isinstance(cb, L.pytorch.callbacks.ProgressBar)]
    assert type(bar) is BudgetProgressBar
    trainer.fit(_Step(), datamodule=dm)
    shown = capsys.readouterr().out.replace("\r", "\n").splitlines()
    assert any(f"/{total} [" in line and f" {unit}/s" in line for line in shown), shown[-3:]
    assert not any("/? [" in line for line in shown if line.startswith("Epoch")), shown[-3:]
    assert bar.train_progress_bar.n == pytest.approx(total)  # the whole budget, at the end
