"""`asr evaluate` on NeMo and lhotse manifests: scores, the --json summary and icefall's report files."""

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.inference.evaluation import word_alignment
from asr.metrics import error_report

KEYS = {"wer", "cer", "ser", "utterances", "words", "rtf", "substitutions", "deletions", "insertions"}


def _wrong_first_word(text: str) -> str:
    words = text.split()
    words[0] = "nine" if words[0] != "nine" else "one"
    return " ".join(words)


@pytest.fixture
def manifests(digits_model, tmp_path):
    """Eight held-out utterances at 22.05 kHz (NeMo, relative paths) and the same as lhotse cuts; the first
    reference is wrong on purpose, so one substitution is certain."""
    _, heldout = digits_model
    (tmp_path / "clips").mkdir()
    rows = []
    for i, (wav, text) in enumerate(heldout[:8]):
        audio, sr = sf.read(wav, dtype="float32")
        sf.write(tmp_path / "clips" / f"u{i}.wav", librosa.resample(audio, orig_sr=sr, target_sr=22_050), 22_050)
        rows.append({"audio_filepath": f"clips/u{i}.wav", "text": _wrong_first_word(text) if i == 0 else text})
    nemo = tmp_path / "test.jsonl"
    nemo.write_text("".join(json.dumps(r) + "\n" for r in rows))

    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recs = [Recording.from_file(tmp_path / r["audio_filepath"], recording_id=f"u{i}") for i, r in enumerate(rows)]
    sups = [SupervisionSegment(f"u{i}", f"u{i}", 0.0, rec.duration, text=r["text"])
            for i, (rec, r) in enumerate(zip(recs, rows))]
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings(recs),
                                 supervisions=SupervisionSet.from_segments(sups))
    lhotse = tmp_path / "test_cuts.jsonl.gz"
    cuts.to_file(lhotse)
    return nemo, lhotse, [r["text"] for r in rows]


def test_evaluate_nemo_manifest_writes_summary_and_icefall_files(digits_model, manifests, tmp_path, capsys):
    path, heldout = digits_model
    nemo, _, refs = manifests
    out = tmp_path / "decode"
    rc = main(["evaluate", "--model", str(path), "--manifest", str(nemo), "--json", str(tmp_path / "wer.json"),
               "--out-dir", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "WER" in printed and "RTF" in printed
    s = json.loads((tmp_path / "wer.json").read_text())
    assert KEYS <= set(s)
    assert s["utterances"] == 8 and s["words"] == sum(len(r.split()) for r in refs)
    assert s["substitutions"] >= 1 and 0 < s["wer"] < 0.3 and 0 < s["cer"] < 0.3  # fractions, not percentages
    assert s["ser"] >= 1 / 8
    assert 0 < s["rtf"] < 1.0 and s["failed"] == 0
    truth = heldout[0][1].split()[0]
    assert {"ref": _wrong_first_word(heldout[0][1]).split()[0], "hyp": truth, "count": 1} in s["confusions"]

    recogs = (out / "recogs-test.txt").read_text().splitlines()
    assert len(recogs) == 16  # a ref= and a hyp= line per utterance, with the same id
    for ref_line, hyp_line in zip(recogs[::2], recogs[1::2]):
        assert ref_line.split(":\t")[0] == hyp_line.split(":\t")[0]
        assert ref_line.split(":\t")[1].startswith("ref=[") and hyp_line.split(":\t")[1].startswith("hyp=[")
    errs = (out / "errs-test.txt").read_text()
    assert errs.startswith(f"%WER = {100 * s['wer']:.2f}")
    assert f"({_wrong_first_word(heldout[0][1]).split()[0]}->{truth})" in errs
    assert "PER-UTT DETAILS" in errs and "SUBSTITUTIONS:" in errs
    summary = (out / "wer-summary-test.txt").read_text().splitlines()
    assert summary[0] == "settings\tWER" and summary[1].endswith(f"{100 * s['wer']:.2f}")


def test_evaluate_lhotse_cuts_gives_the_same_scores(digits_model, manifests, tmp_path):
    path, _ = digits_model
    nemo, lhotse, refs = manifests
    for manifest, name in [(nemo, "a.json"), (lhotse, "b.json")]:
        assert main(["evaluate", "--model", str(path), "--manifest", str(manifest), "--json", str(tmp_path / name),
                     "--beam", "1", "--ctc-weight", "0"]) == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    for key in ("wer", "cer", "ser", "utterances", "words"):
        assert a[key] == b[key]


def test_evaluate_reports_an_unreadable_clip_and_scores_the_rest(digits_model, manifests, tmp_path, capsys):
    path, _ = digits_model
    _, lhotse, _ = manifests  # lhotse cuts carry the audio's metadata, so the manifest loads and decoding finds it
    (lhotse.parent / "clips" / "u3.wav").write_bytes(b"not audio")
    rc = main(["evaluate", "--model", str(path), "--manifest", str(lhotse), "--json", str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert rc == 1 and "u3" in err and "Traceback" not in err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["utterances"] == 7 and s["failed"] == 1


def test_word_alignment_matches_jiwer_counts():
    ref, hyp = "one two three four", "one too three four five"
    pairs = word_alignment(ref, hyp)
    assert [k for k, *_ in pairs] == ["equal", "substitute", "equal", "equal", "insert"]
    r = error_report([ref], [hyp])
    assert (r.substitutions, r.insertions, r.deletions) == (1, 1, 0)
    assert word_alignment("", "oh") == [("insert", "", "oh")]


def test_transcribe_and_evaluate_give_the_same_text_for_the_same_files(digits_model, manifests, tmp_path, capsys):
    """Short clips are decoded whole by both; a recording longer than the segment limit is segmented the
    same way by both (Silero VAD at pauses): `asr transcribe` on a folder == `asr evaluate` on its cuts."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    from asr.inference.evaluation import evaluate
    from asr.inference.options import TranscribeOptions
    from asr.text import normalise_text

    path, heldout = digits_model
    clips = tmp_path / "clips"
    rng = np.random.default_rng(0)
    pieces, texts = [], []
    for wav, text in heldout[8:24]:  # ~35 s with pauses: longer than the 20 s segment limit
        pieces += [np.zeros(round(rng.uniform(0.6, 1.5) * 16_000), np.float32), sf.read(wav, dtype="float32")[0]]
        texts.append(text)
    sf.write(clips / "long.flac", np.concatenate(pieces), 16_000)
    recs = [Recording.from_file(f, recording_id=f.stem) for f in sorted(clips.iterdir())]
    sups = [SupervisionSegment(r.id, r.id, 0.0, r.duration, text="x") for r in recs]
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings(recs),
                                 supervisions=SupervisionSet.from_segments(sups))
    ev = evaluate(asr_model(path), cuts, TranscribeOptions(word_timestamps=False))
    recording = {c.id: c.recording_id for c in cuts}
    by_eval = {recording[i]: h for i, h in zip(ev.ids, ev.hyps)}

    assert main(["transcribe", "--model", str(path), str(clips), "--format", "json", "--no-word-timestamps"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_transcribe = {Path(x["source"]).stem: normalise_text(x["text"]) for x in lines}
    assert len(by_transcribe) == 9 and by_transcribe == by_eval
    long = next(x for x in lines if x["source"].endswith("long.flac"))
    assert len(long["segments"]) >= 10  # segmented at its pauses, not decoded whole
    assert error_report([" ".join(texts)], [by_eval["long"]]).wer < 0.15


def asr_model(path):
    import asr

    return asr.load_model(path)
