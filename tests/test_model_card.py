"""Knowing what a model is, and starting from one: the model card a run leaves in its model file (`asr info`), and
`asr fit --init-from MODEL.pt` (fine-tuning: the file's weights, tokenizer and CMVN statistics)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from asr.cli import main
from asr.data.datamodule import ASRDataModule
from asr.decoding.options import DecodeOptions
from asr.errors import UserError
from asr.model import ASRModel, ModelConfig
from asr.model.card import ModelCard
from asr.model.io import load_model_file, model_card, save_model
from asr.tokenizer import train_tokenizer
from asr.training.checkpoints import export
from asr.training.prepare import prepare_run
from asr.training.schedules import OptimConfig
from asr.training.task import ASRTask, TaskConfig, TokenizerConfig
from training_fixtures import noise_corpus

TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8,
            conv_module=True, conv_kernel=5, dropout=0.1)


def _task(init_from: str | None = None, **model) -> ASRTask:
    return ASRTask(ModelConfig(**{**TINY, **model}), OptimConfig(lr=1e-3, warmup_steps=5), TokenizerConfig("char"),
                   TaskConfig(cmvn_utterances=10, decode=DecodeOptions(beam=1)), init_from=init_from)


def _trainer(root: Path, callbacks: list, **kw) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, callbacks=callbacks, use_distributed_sampler=False,
                     default_root_dir=root, num_sanity_val_steps=0, **kw)


def _run(trainer: L.Trainer, stage: str, task: ASRTask, data: ASRDataModule, ckpt_path: str | None = None, **kw):
    """trainer.fit or trainer.test, after what `asr fit|test` does before them (the training inputs)."""
    prepare_run(trainer, task, data, stage, ckpt_path)
    return getattr(trainer, stage)(task, datamodule=data, ckpt_path=ckpt_path, **kw)


def _data(manifest: Path) -> ASRDataModule:
    return ASRDataModule(train_manifests=str(manifest), valid_manifests=str(manifest), test_manifests=str(manifest),
                         max_duration=4.0, num_buckets=2, num_workers=0, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(manifest, checkpoint, model file): one epoch with validation, `asr test` of its checkpoint, exported."""
    root = tmp_path_factory.mktemp("card")
    manifest = noise_corpus(root / "data", n=8)
    L.seed_everything(0)
    task = _task()
    ckpt = ModelCheckpoint(dirpath=root / "ckpt", save_last=True, save_top_k=0)
    trainer = _trainer(root, [ckpt], max_epochs=1)
    _run(trainer, "fit", task, _data(manifest))
    last = root / "ckpt" / "last.ckpt"
    _run(_trainer(root, [], enable_checkpointing=False), "test", _task(), _data(manifest), str(last), verbose=False)
    export([last], root / "model.pt")
    return manifest, last, root / "model.pt"


def test_export_writes_the_runs_card(trained):
    manifest, last, path = trained
    net, tokenizer, meta = load_model_file(path)
    card = ModelCard.of(meta)
    hours = sum(json.loads(line)["duration"] for line in _lines(manifest)) / 3600
    [corpus] = card.corpora
    assert corpus.manifest == str(manifest) and corpus.utterances == 8
    assert corpus.hours == pytest.approx(hours, abs=1e-3)
    assert card.vocabulary == {"kind": "char", "size": tokenizer.vocab_size}
    assert card.parameters == sum(p.numel() for p in net.parameters())
    assert card.steps == torch.load(last, weights_only=True)["global_step"] > 0
    assert card.code and (card.code.startswith("git ") or card.code.startswith("asr "))
    assert card.date and card.date.startswith("20")
    # the test stage's WER, of this very checkpoint, and the dev distribution of the vocabulary check
    [result] = card.results
    assert result.test_set == str(manifest) and result.utterances == 8 and 0 <= result.wer
    assert result.by == "asr test of last.ckpt"
    cal = card.calibration
    assert cal.score == "ctc-fit" and cal.utterances == 8 and set(cal.percentiles) == {"1", "5", "10", "25", "50"}
    assert cal.percentiles["1"] <= cal.percentiles["50"] <= 0


def test_averaged_checkpoints_were_not_tested_so_their_card_has_no_results(trained, tmp_path):
    _, last, _ = trained
    export([last, last], tmp_path / "avg.pt")
    card = ModelCard.of(load_model_file(tmp_path / "avg.pt")[2])
    assert card.results == () and card.corpora is not None


def test_asr_info_prints_the_card_and_json(trained, capsys):
    manifest, _, path = trained
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"  {manifest}: " in out and "vocabulary: char, " in out and "test results:\n" in out
    assert "WER " in out and "(8 utterances; asr test of last.ckpt)" in out
    assert main(["info", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["card"]["corpora"][0]["utterances"] == 8 and d["config"]["d_model"] == TINY["d_model"]


def test_a_model_file_without_a_card_still_loads_and_says_unknown(tmp_path, capsys):
    """Model files written before cards: their meta has none. The file itself still tells vocabulary and size."""
    tok = train_tokenizer(["one two", "three"], "word")
    model = ASRModel(ModelConfig(**{**TINY, "vocab_size": tok.vocab_size}))
    path = tmp_path / "old.pt"
    save_model(path, model, tok)
    blob = torch.load(path, weights_only=True)
    del blob["meta"]["card"]
    torch.save(blob, path)
    net, tok2, meta = load_model_file(path)
    assert ModelCard.of(meta) == ModelCard()
    card = model_card(net, tok2, meta)
    assert card.vocabulary == {"kind": "word", "size": 6} and card.parameters > 0 and card.corpora is None
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "training data: unknown" in out and "recipe: unknown" in out and "vocabulary: word, 6 units" in out
    assert "not calibrated" in out


def test_init_from_starts_from_the_files_weights_tokenizer_and_cmvn(trained, tmp_path):
    """The first training step sees exactly the model file's weights (CMVN statistics included) and tokenizer."""
    manifest, _, path = trained
    file_net, file_tok, _ = load_model_file(path)

    class FirstWeights(L.Callback):
        seen: dict[str, torch.Tensor] | None = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if self.seen is None:
                self.seen = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}

    first = FirstWeights()
    other = noise_corpus(tmp_path / "other", n=6, seed=1)  # new data: nothing is trained or measured from it
    task = _task(init_from=str(path))
    _run(_trainer(tmp_path, [first], max_steps=2, limit_val_batches=0), "fit", task, _data(other))
    assert task.tokenizer.state() == file_tok.state()
    assert set(first.seen) == set(file_net.state_dict())
    for k, v in file_net.state_dict().items():
        torch.testing.assert_close(first.seen[k], v, rtol=0, atol=0, msg=f"{k} is not the file's")
    assert any(not torch.equal(task.net.state_dict()[k], v) for k, v in file_net.state_dict().items())  # it trained
    assert task.facts.init_from == str(path)


def test_init_from_refuses_another_network_or_tokenizer_in_one_line(trained, tmp_path):
    manifest, _, path = trained
    with pytest.raises(UserError) as e:
        _run(_trainer(tmp_path, [], max_steps=1), "fit", _task(str(path), d_model=64, enc_layers=2), _data(manifest))
    message = str(e.value)
    assert "d_model 64 (the file: 32)" in message and "enc_layers 2 (the file: 1)" in message
    assert "\n" not in message and "dropout" not in message
    task = ASRTask(ModelConfig(**TINY), tokenizer=TokenizerConfig("bpe", 50), init_from=str(path))
    with pytest.raises(UserError, match=r"the file's tokenizer is char units, the config asks for bpe 50; .*"
                                        r"--model.tokenizer.kind char"):
        _run(_trainer(tmp_path, [], max_steps=1), "fit", task, _data(manifest))
    # training-only settings may differ: that is what fine-tuning changes
    _run(_trainer(tmp_path, [], max_steps=1, limit_val_batches=0), "fit",
         _task(str(path), dropout=0.3, ctc_weight=0.5), _data(manifest))


def test_the_command_line_init_from_and_a_model_file_as_ckpt_path(trained, tmp_path, monkeypatch, capsys):
    """`asr fit --init-from M.pt` records the model and the recipe on the run's card; `--ckpt_path M.pt` (a model
    file where a checkpoint goes) is one line naming --init-from, not Lightning's KeyError."""
    manifest, _, path = trained
    monkeypatch.chdir(tmp_path)
    cfg = {
        "trainer": {"accelerator": "cpu", "devices": 1, "max_steps": 1, "limit_val_batches": 0, "logger": False,
                    "enable_progress_bar": False, "default_root_dir": str(tmp_path / "run")},
        "model": {"model": TINY, "tokenizer": {"kind": "char"}, "task": {"cmvn_utterances": 5}},
        "data": {"train_manifests": str(manifest), "valid_manifests": str(manifest), "max_duration": 4.0,
                 "num_buckets": 2, "num_workers": 0},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    rc = main(["fit", "--config", "cfg.yaml", "--ckpt_path", str(path)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2 and err == [f"error: {path} is a model file, not a checkpoint; to start training from its weights "
                               f"use --init-from {path} (checkpoints are <run>/checkpoints/*.ckpt)"]
    assert main(["fit", "--config", "cfg.yaml", "--init-from", str(path), "--threads", "1"]) == 0
    [last] = (tmp_path / "run").rglob("last.ckpt")
    export([last], tmp_path / "tuned.pt")
    card = ModelCard.of(load_model_file(tmp_path / "tuned.pt")[2])
    assert card.init_from == str(path) and card.recipe == "cfg.yaml" and card.steps == 1


def _lines(manifest: Path) -> list[str]:
    import gzip

    with gzip.open(manifest, "rt") as f:
        return [line for line in f if line.strip()]
