"""The command line as one surface: shared flags, subcommand usage on a wrong flag, nothing written where it was
not asked, `asr average --best` from the checkpoint callback's record, the Python API's entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import asr
from asr.cli import build_parser, main

COMPUTING = ["transcribe", "evaluate", "plot-attention", "demo"]


def test_every_computing_command_takes_threads_and_device():
    _, subparsers = build_parser()
    for name in COMPUTING + ["bench"]:
        p = subparsers[name]
        if name == "bench":
            p = p._subparsers._group_actions[0].choices["train-step"]  # every bench shares add_timing_arguments
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--threads", "--device"} <= flags, name


def test_lightning_commands_take_threads_and_device():
    from asr.commands.lightning_cli import compute_flags

    rest, threads = compute_flags(["--config", "r.yaml", "--threads", "3", "--device=cuda", "--trainer.devices", "1"])
    assert threads == 3
    assert rest == ["--config", "r.yaml", "--trainer.accelerator", "gpu", "--trainer.devices", "1"]
    assert compute_flags(["--init-from", "m.pt", "--init-from=n.pt"])[0] == ["--model.init_from", "m.pt",
                                                                           "--model.init_from", "n.pt"]


def test_a_wrong_flag_shows_the_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "--model", "m.pt", "a.wav", "--bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "usage: asr transcribe" in err and "unrecognized arguments: --bogus" in err


def test_bare_fit_writes_nothing_and_says_what_it_needs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit"]) == 2
    assert "--config recipes/" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no lightning_logs/ in the current folder


def test_public_api_is_listed():
    assert {"load_model", "Transcriber", "Transcript", "TranscribeOptions", "DecodeOptions"} <= set(asr.__all__)
    assert set(asr.__all__) <= set(dir(asr))
    assert asr.DecodeOptions().beam == asr.TranscribeOptions().decode.beam


def test_no_module_below_the_command_line_imports_it():
    root = Path(asr.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.parent.name != "commands" and p.name != "cli.py"
                 and ("asr.commands" in p.read_text() or "from asr import commands" in p.read_text())]
    assert offenders == []


def test_command_line_help_does_not_import_torch():
    code = "import sys; from asr.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _fake_checkpoint(path: Path, record: dict | None, step: int) -> None:
    from asr.tokenizer import train_tokenizer

    ckpt = {"state_dict": {"net.w": torch.full((2,), float(step))}, "asr_tokenizer": train_tokenizer(["a b"]).state(),
            "global_step": step}
    if record is not None:
        ckpt["callbacks"] = {"ModelCheckpoint{'monitor': 'val_wer', 'mode': 'min'}": record}
    torch.save(ckpt, path)


def test_average_best_reads_the_checkpoint_callbacks_record(tmp_path):
    """File names carry no score here: the ranking must come from ModelCheckpoint's best_k_models."""
    from asr.errors import UserError
    from asr.training.checkpoints import best_checkpoints

    run = tmp_path / "elsewhere" / "checkpoints"  # recorded paths point at the folder the run was trained in
    scores = {"a.ckpt": 0.30, "b.ckpt": 0.10, "c.ckpt": 0.20}
    record = {"best_k_models": {str(run / n): torch.tensor(v) for n, v in scores.items()},
              "best_model_score": torch.tensor(0.10), "kth_value": torch.tensor(0.30)}
    folder = tmp_path / "copied"
    folder.mkdir()
    for i, n in enumerate(scores):
        _fake_checkpoint(folder / n, None, i)
    _fake_checkpoint(folder / "last.ckpt", record, 9)  # the newest one holds the callback's state
    assert [p.name for p in best_checkpoints(folder, 2)] == ["b.ckpt", "c.ckpt"]
    assert [p.name for p in best_checkpoints(folder, 5)] == ["b.ckpt", "c.ckpt", "a.ckpt"]
    # mode max (e.g. an accuracy): best_model_score above the k-th value
    record_max = {**record, "best_model_score": torch.tensor(0.30), "kth_value": torch.tensor(0.10)}
    _fake_checkpoint(folder / "last.ckpt", record_max, 9)
    assert [p.name for p in best_checkpoints(folder, 1)] == ["a.ckpt"]
    empty = tmp_path / "norecord"
    empty.mkdir()
    _fake_checkpoint(empty / "x.ckpt", None, 0)
    with pytest.raises(UserError, match="no record of best scores"):
        best_checkpoints(empty, 2)


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`asr info m.pt | head -1`: the pipe closes before asr writes; one quiet exit, as a SIGPIPE would give."""
    from asr.model import ASRModel, ModelConfig
    from asr.model.io import save_model
    from asr.tokenizer import train_tokenizer

    tok = train_tokenizer(["one two", "three"], "word")
    path = tmp_path / "m.pt"
    save_model(path, ASRModel(ModelConfig(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64,
                                          vocab_size=tok.vocab_size)), tok)
    p = subprocess.Popen([sys.executable, "-m", "asr.cli", "info", str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # before the interpreter has even imported asr: its first write meets a closed pipe
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141
    assert "Traceback" not in err and "Exception ignored" not in err, err
