"""`asr demo`: its stages wired together for real on the test's digit model (preparing the corpora and the
training itself take minutes and run in `make demo` / by hand); --holdout-speaker and --no-accents reach the
stages they name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import asr.demo as demo

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"


def _test_set(folder: Path, items: list[tuple[Path, str, str]]) -> Path:
    """(wav, text, speaker) -> folder/test_cuts.jsonl.gz, as the corpora's prepare_* write a test split."""
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

    folder.mkdir(parents=True, exist_ok=True)
    cuts = []
    for wav, text, speaker in items:
        rec = Recording.from_file(wav, recording_id=f"{speaker}-{wav.stem}")
        sup = SupervisionSegment(rec.id, rec.id, 0.0, rec.duration, text=text, speaker=speaker)
        cuts.append(MonoCut(rec.id, 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(folder / "test_cuts.jsonl.gz")
    return folder


def test_leave_one_out_scores_the_model_each_training_made_on_that_speaker(digits_model, tmp_path, monkeypatch):
    """Everything but the two stages that take minutes runs as in `asr demo --holdout-speaker all`: preparing
    (here: held-out digit audio as the TTS test set and as each speaker's takes) and training (here: a checkpoint
    of the test's digit model). Export, evaluation, the example transcript and the attention maps drawn for it,
    results.json and the table must then report what the library independently says of that model. (Drawing
    the picture costs seconds and is tests/test_plots.py's; here the maps reach it.)"""
    import asr.plots
    import asr
    from asr.metrics import error_report
    from asr.model.io import load_model_file

    path, heldout = digits_model
    tts = [(w, t, "tts") for w, t in heldout[8:9]]
    takes = {"ann": [(w, t, "ann") for w, t in heldout[:2]],
             "bob": [(heldout[2][0], "nine nine nine", "bob"), (heldout[3][0], heldout[3][1], "bob")]}  # one wrong
    net, tokenizer, _ = load_model_file(path)
    trained = []

    def prepare(cfg):
        return {"tts": _test_set(cfg.data / "tts-digits", tts),
                "fsdd": _test_set(cfg.data / f"fsdd-without-{cfg.holdout_speaker}", takes[cfg.holdout_speaker])}

    def train(cfg, corpora):
        trained.append((cfg.holdout_speaker, corpora["fsdd"].name))
        ckpt = cfg.out / "train" / "checkpoints" / "last.ckpt"
        ckpt.parent.mkdir(parents=True)
        torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, "global_step": 7,
                    "asr_tokenizer": tokenizer.state(), "asr_model_config": net.cfg.to_dict()}, ckpt)
        return ckpt

    drawn = []

    def save_png(maps, png, title):
        drawn.append((maps.labels, str(png), title))
        return png

    monkeypatch.setattr(demo, "prepare", prepare)
    monkeypatch.setattr(demo, "train", train)
    monkeypatch.setattr(asr.plots, "save_png", save_png)
    cfg = demo.DemoConfig(out=tmp_path / "exp", data=tmp_path / "data")
    table = demo.run_leave_one_out(cfg, ["ann", "bob"])

    assert trained == [("ann", "fsdd-without-ann"), ("bob", "fsdd-without-bob")]
    model = asr.load_model(path)
    whole = dict(beam=cfg.decode.beam, ctc_weight=cfg.decode.ctc_weight, word_timestamps=False, vad=False)

    def wer(items):
        return round(error_report([t for _, t, _ in items], [r.text for r in model.transcribe(
            [w for w, _, _ in items], **whole)]).wer, 4)

    expected = {name: wer(items) for name, items in [*takes.items(), ("tts", tts)]}
    said = model.transcribe(tts[0][0], beam=cfg.decode.beam, ctc_weight=cfg.decode.ctc_weight).text
    for name, items in takes.items():
        run = cfg.out / f"without-{name}"
        results = json.loads((run / "results.json").read_text())
        exported, _, _ = load_model_file(run / "model.pt")  # what the export stage wrote from the checkpoint
        assert all(torch.equal(v, net.state_dict()[k]) for k, v in exported.state_dict().items())
        assert (results["fsdd_test"]["wer"], results["fsdd_test"]["utterances"]) == (expected[name], len(items))
        assert results["tts_heldout_voices"]["wer"] == expected["tts"]
        assert table["speakers"][name] == {"fsdd_wer": results["fsdd_test"]["wer"], "utterances": len(items),
                                           "fsdd_cer": results["fsdd_test"]["cer"], "minutes": results["total_minutes"],
                                           "tts_heldout_wer": results["tts_heldout_voices"]["wer"]}
        example = results["example"]
        assert (example["audio"], example["hypothesis"]) == (str(tts[0][0]), said)
        labels, png, title = drawn.pop(0)  # the maps of that transcript, each token's row and <eos>'s
        assert (labels[:-1], png) == (said.split(), example["attention_png"]) and "voice tts" in title
    assert table["speakers"]["bob"]["fsdd_wer"] > 0  # the wrong reference counts
    assert table["mean_fsdd_wer"] == round((expected["ann"] + expected["bob"]) / 2, 4)
    assert json.loads((cfg.out / "leave_one_speaker_out.json").read_text()) == table


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
