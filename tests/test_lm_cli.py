"""`asr train-lm`, `asr tune-lm`, `asr build-ngram` and the fusion flags of `asr evaluate`, against the suite's
trained digit model (tests/trained_model.py): a small LM trained here for a few steps."""

from __future__ import annotations

import json
import random

import pytest
import soundfile as sf
import torch

from asr.cli import main
from asr.lm.io import load_lm

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")


@pytest.fixture(scope="module")
def lm_text(tmp_path_factory):
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("lm") / "text.txt"
    path.write_text("".join(" ".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 6))) + "\n"
                            for _ in range(600)))
    return path


def _train(units, text, out, *extra: str) -> int:
    return main(["train-lm", "--units", str(units), "--text", str(text), "--out", str(out), "--size", "tiny",
                 "--max-tokens", "400", "--val-every", "10", "--warmup", "5", "--lr", "3e-3", "--threads", "1", *extra])


@pytest.fixture(scope="module")
def trained_lm(digits_model, lm_text):
    out = lm_text.parent / "lm.pt"
    assert _train(digits_model[0], lm_text, out, "--max-steps", "30") == 0
    return out


def test_train_lm_writes_one_self_contained_file(trained_lm, digits_model):
    blob = torch.load(trained_lm, weights_only=True)  # plain tensors and dicts: no code is unpickled
    assert blob["format"] == "asr-lm/1" and blob["meta"]["steps"] == 30 and blob["meta"]["sentences"] == 600
    lm, tok, meta = load_lm(trained_lm)
    from asr.model.io import load_model_file

    _, model_tok, _ = load_model_file(digits_model[0])
    assert tok.state() == model_tok.state()  # the acoustic model's own units
    # trained: digit strings are far likelier than a word salad of the same units reversed in order
    ids = tok.encode("one two three four")
    assert float(lm.sequence_log_prob([ids])[0]) > float(lm.sequence_log_prob([[2, 2, 2, 2]])[0])
    assert meta["val_loss"] < 2.6  # ln(13 units) = 2.56: better than uniform


def test_train_lm_resumed_equals_uninterrupted(digits_model, lm_text, tmp_path):
    """Stopped at step 10 and resumed to 20 (the same cosine: --schedule-steps 20) gives the weights of a run of
    20 steps straight: data position, dropout draws and schedule all continue where they stopped."""
    units = digits_model[0]
    assert _train(units, lm_text, tmp_path / "a.pt", "--max-steps", "20") == 0
    assert _train(units, lm_text, tmp_path / "b.pt", "--max-steps", "10", "--schedule-steps", "20") == 0
    assert _train(units, lm_text, tmp_path / "b.pt", "--max-steps", "20", "--schedule-steps", "20", "--resume") == 0
    a = torch.load(tmp_path / "a_train" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "b_train" / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 20
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_train_lm_refuses_to_start_over_an_earlier_run(digits_model, lm_text, tmp_path, capsys):
    assert _train(digits_model[0], lm_text, tmp_path / "c.pt", "--max-steps", "2") == 0
    capsys.readouterr()
    assert _train(digits_model[0], lm_text, tmp_path / "c.pt", "--max-steps", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "add --resume to continue it" in err[0]


@pytest.fixture
def nemo_manifest(digits_model, tmp_path):
    _, heldout = digits_model
    rows = []
    for i, (wav, text) in enumerate(heldout[:8]):
        audio, sr = sf.read(wav, dtype="float32")
        sf.write(tmp_path / f"u{i}.wav", audio, sr)
        rows.append({"audio_filepath": f"u{i}.wav", "text": text})
    path = tmp_path / "dev.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _evaluate(model, manifest, out, *extra: str) -> dict:
    assert main(["evaluate", "--model", str(model), "--manifest", str(manifest), "--json", str(out),
                 "--out-dir", str(out.parent / out.stem), "--threads", "1", *extra]) == 0
    summary = json.loads(out.read_text())
    summary["recogs"] = (out.parent / out.stem / f"recogs-{manifest.name.split('.')[0]}.txt").read_text()
    return summary


def test_evaluate_with_lm_weight_zero_is_evaluate_without_it_and_json_records_the_scorers(
        digits_model, trained_lm, nemo_manifest, tmp_path):
    model = digits_model[0]
    plain = _evaluate(model, nemo_manifest, tmp_path / "plain.json")
    off = _evaluate(model, nemo_manifest, tmp_path / "off.json", "--lm", str(trained_lm), "--lm-weight", "0")
    assert off["recogs"] == plain["recogs"] and off["wer"] == plain["wer"]
    on = _evaluate(model, nemo_manifest, tmp_path / "on.json", "--lm", str(trained_lm), "--lm-weight", "0.4",
                   "--length-bonus", "0.5")
    scorers = on["settings"]["scorers"]
    assert scorers["weights"] == {"decoder": 0.7, "ctc": 0.3, "lm": 0.4, "length": 0.5}
    assert scorers["files"] == {"lm": str(trained_lm)}
    assert plain["settings"]["scorers"]["weights"] == {"decoder": 0.7, "ctc": 0.3}


def test_tune_lm_prints_the_grid_and_the_best_pair(digits_model, trained_lm, nemo_manifest, capsys):
    assert main(["tune-lm", "--model", str(digits_model[0]), "--lm", str(trained_lm), "--manifest",
                 str(nemo_manifest), "--lm-weights", "0", "0.5", "--length-bonuses", "0", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if len(line.split()) == 6 and not line.startswith("best")
            and all(x.replace(".", "").isdigit() for x in line.split())]
    assert {(r[0], r[2]) for r in rows} == {("0", "0"), ("0", "1"), ("0.5", "0"), ("0.5", "1")}
    best = next(line for line in out if line.startswith("best:")).split()
    assert float(best[4]) == min(float(r[3]) for r in rows)  # the best row has the lowest WER
    assert any(line.startswith(f"use: asr evaluate --model {digits_model[0]} --lm {trained_lm}") for line in out)


def test_a_phrase_not_spoken_is_not_inserted_by_hotwords(digits_model, nemo_manifest, tmp_path):
    hot = tmp_path / "hot.txt"
    hot.write_text("eight eight eight eight eight eight\nnine oh nine oh nine oh : 2.0\n")
    plain = _evaluate(digits_model[0], nemo_manifest, tmp_path / "plain.json")
    biased = _evaluate(digits_model[0], nemo_manifest, tmp_path / "hot.json", "--hotwords", str(hot))
    assert biased["recogs"] == plain["recogs"]
    assert biased["settings"]["scorers"]["files"] == {"hotwords": str(hot)}


def test_build_ngram_with_irstlm_writes_an_arpa_the_search_reads(lm_text, tmp_path, capsys):
    from asr.lm.arpa import read_arpa

    out = tmp_path / "3gram.arpa.gz"
    assert main(["build-ngram", "--text", str(lm_text), "--order", "3", "--out", str(out)]) == 0
    assert "(order 3, " in capsys.readouterr().out
    lm = read_arpa(out)
    assert lm.order == 3 and ("seven",) in lm.probs
    assert lm.sentence_log_prob(["one", "zebra"]) < lm.sentence_log_prob(["one", "two"]) < 0  # unknown words cost


def test_the_python_api_takes_the_same_fusion_options(digits_model, trained_lm):
    import asr

    model = asr.load_model(digits_model[0])
    wav = digits_model[1][0][0]
    plain = model.transcribe(wav)
    assert model.transcribe(wav, lm=str(trained_lm), lm_weight=0.0).text == plain.text
    fused = model.transcribe(wav, lm=str(trained_lm), lm_weight=0.5, length_bonus=0.5)
    assert model.fusion(asr.TranscribeOptions.of(lm=str(trained_lm))).lm is not None
    assert isinstance(fused.text, str)
    from asr.errors import UserError

    with pytest.raises(UserError, match="greedy search fuses no LM"):
        model.transcribe(wav, lm=str(trained_lm), search="greedy")
