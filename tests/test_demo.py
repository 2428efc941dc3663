"""`asr demo --holdout-speaker`: the leave-one-speaker-out bookkeeping (the trainings themselves take minutes
each and run in `make demo` / by hand)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import asr.demo as demo

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"


def test_leave_one_out_runs_each_speaker_apart_and_averages(tmp_path, monkeypatch):
    seen = []

    def fake_run(cfg):
        seen.append((cfg.holdout_speaker, cfg.out))
        wer = {"ann": 0.02, "bob": 0.06}[cfg.holdout_speaker]
        return {"fsdd_test": {"wer": wer, "cer": wer / 2, "utterances": 500},
                "tts_heldout_voices": {"wer": 0.01}, "total_minutes": 9.0}

    monkeypatch.setattr(demo, "run_demo", fake_run)
    out = demo.run_leave_one_out(demo.DemoConfig(out=tmp_path), ["ann", "bob"])
    assert seen == [("ann", tmp_path / "without-ann"), ("bob", tmp_path / "without-bob")]
    assert out["mean_fsdd_wer"] == pytest.approx(0.04)
    assert json.loads((tmp_path / "leave_one_speaker_out.json").read_text())["speakers"]["bob"]["fsdd_wer"] == 0.06


@pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason="needs ../shared/data/fsdd")
def test_an_unknown_speaker_is_one_line_naming_the_speakers(tmp_path):
    done = subprocess.run([sys.executable, "-m", "asr.cli", "demo", "--out", str(tmp_path), "--holdout-speaker",
                           "bob", "--fsdd", str(FSDD)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --holdout-speaker 'bob' is not an FSDD speaker here; choose "
                                                "one of george, jackson, nicolas, yweweler, or all"]
    assert not any(tmp_path.iterdir())  # refused before anything was prepared


@pytest.mark.parametrize("argv, accents", [([], True), (["--no-accents"], False)])
def test_no_accents_reaches_the_digits_corpus(argv, accents, tmp_path, monkeypatch):
    import asr.corpora.fsdd as fsdd
    import asr.corpora.tts_digits as tts_digits
    from asr.cli import main

    asked = {}

    def fake_prepare(out, **kw):
        asked.update(kw)
        raise SystemExit(0)  # stop before the FSDD and the training

    monkeypatch.setattr(tts_digits, "prepare_tts_digits", fake_prepare)
    monkeypatch.setattr(fsdd, "prepare_fsdd", lambda *a, **k: None)
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(tmp_path / "d"), "--data", str(tmp_path / "data"), *argv])
    assert asked["accents"] is accents
