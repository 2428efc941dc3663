"""`asr evaluate` on NeMo and lhotse manifests: scores, the --json summary and icefall's report files; the
scoring protocol (whole cuts, undecoded cuts as deletions, --plain-search); agreement with `asr transcribe`."""

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
    assert {"ref": _wrong_first_word(heldout[0][1]).split()[0], "hyp": truth, "count": 1} in \
        s["confusions"]["substitutions"]
    assert "test set" in printed and "S.Err" in printed and "every cut decoded whole" in printed
    assert s["sclite"]["total"]["Wrd"] == s["words"] and s["settings"]["guards"] and not s["settings"]["plain_search"]

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


def test_undecodable_cuts_count_as_all_their_words_deleted_and_are_named(digits_model, manifests, tmp_path, capsys,
                                                                         monkeypatch):
    """An unreadable file, one with no samples and one whose search raises: each scored as deletions, named in
    the report, the --json and the errs file; the cuts batched with the one that raised are still decoded."""
    from asr.inference.transcriber import Transcriber

    path, _ = digits_model
    _, lhotse, refs = manifests  # lhotse cuts carry the audio's metadata, so the manifest loads and decoding finds it
    clips = lhotse.parent / "clips"
    frames = [sf.info(clips / f"u{i}.wav").frames for i in range(8)]  # the search breaks on a clip of its own length
    (clips / "u3.wav").write_bytes(b"not audio")
    sf.write(clips / "u5.wav", np.zeros(0, np.float32), 22_050)  # a valid header and no samples
    broken = next(i for i in (6, 7, 4, 2, 1, 0) if sum(abs(f - frames[i]) <= 4 for f in frames) == 1)
    length = round(frames[broken] * 16_000 / 22_050)  # as the network gets it
    decode_jobs = Transcriber.decode_jobs

    def breaks_on_one(self, jobs, opts):
        if any(abs(len(j.wave) - length) <= 2 for j in jobs):
            raise RuntimeError("the search fell over")
        return decode_jobs(self, jobs, opts)

    monkeypatch.setattr(Transcriber, "decode_jobs", breaks_on_one)
    rc = main(["evaluate", "--model", str(path), "--manifest", str(lhotse), "--json", str(tmp_path / "s.json"),
               "--out-dir", str(tmp_path / "out"), "--name", "t"])
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in err and "scored as all their reference words deleted" in err
    s = json.loads((tmp_path / "s.json").read_text())
    lost = {"u3", "u5", f"u{broken}"}
    stem = lambda cut_id: cut_id.split("-")[0]  # noqa: E731 - lhotse's cut ids are u3-3: recording-index
    assert s["utterances"] == 8 and s["failed"] == 3 and {stem(x["id"]) for x in s["not_decoded"]} == lost
    assert s["words"] == sum(len(r.split()) for r in refs)
    lost_words = sum(len(refs[int(i[1])].split()) for i in lost)
    assert s["deletions"] >= lost_words and sum(x["words"] for x in s["not_decoded"]) == lost_words
    assert f"u{broken}-{broken}: decoding failed (RuntimeError: the search fell over)" in out
    assert f"not decoded, scored as all words deleted: 3 of 8 utterances, {lost_words} reference words" in out
    hyps = {stem(line.split(":")[0]): line.split("hyp=")[1] for line in (tmp_path / "out" / "recogs-t.txt").read_text()
            .splitlines() if "hyp=" in line}
    assert {i for i, h in hyps.items() if h == "[]"} == lost  # the rest decoded, the broken one's batch-mates too
    assert "u3-3: cannot load audio" in (tmp_path / "out" / "errs-t.txt").read_text()


def _long_cut(heldout, folder: Path, seconds: float, speaker: str = "spk"):
    """Held-out clips joined with 0.4 s pauses into one recording of >= `seconds`, as one lhotse cut."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    pieces, texts = [], []
    for wav, text in heldout:
        pieces += [sf.read(wav, dtype="float32")[0], np.zeros(6_400, np.float32)]
        texts.append(text)
        if sum(len(p) for p in pieces) >= seconds * 16_000:
            break
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "long.flac", np.concatenate(pieces), 16_000)
    rec = Recording.from_file(folder / "long.flac", recording_id="long")
    sup = SupervisionSegment("long", "long", 0.0, rec.duration, text=" ".join(texts), speaker=speaker)
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings([rec]),
                                 supervisions=SupervisionSet.from_segments([sup]))
    cuts.to_file(folder / "long_cuts.jsonl.gz")
    return folder / "long_cuts.jsonl.gz", rec.duration


def test_a_cut_longer_than_20_s_is_decoded_whole_unless_max_segment(digits_model, tmp_path, capsys, monkeypatch):
    from asr.inference.transcriber import Transcriber

    path, heldout = digits_model
    manifest, duration = _long_cut(heldout, tmp_path / "long", 24)
    assert duration > 20
    seen: list[float] = []  # seconds of each segment the network is given
    decode_jobs = Transcriber.decode_jobs
    monkeypatch.setattr(Transcriber, "decode_jobs",
                        lambda self, jobs, opts: seen.extend(len(j.wave) / 16_000 for j in jobs) or
                        decode_jobs(self, jobs, opts))
    args = ["evaluate", "--model", str(path), "--manifest", str(manifest), "--beam", "2"]
    assert main(args) == 0
    assert seen == [pytest.approx(duration, abs=1e-3)]  # one segment: the whole cut
    assert "every cut decoded whole" in capsys.readouterr().out
    seen.clear()
    assert main(args + ["--max-segment", "20"]) == 0
    assert len(seen) >= 2 and max(seen) <= 20 + 1e-3  # today's VAD segments, on asking
    assert "cut by the VAD into segments of at most 20 s" in capsys.readouterr().out


def test_plain_search_reaches_the_policy_and_is_the_beams_own_output(digits_model, manifests, tmp_path, capsys,
                                                                      monkeypatch):
    """--plain-search decodes with every guard off (the option reaches the policy), and then returns the beam's
    own best hypothesis; the default differs from it only where a guard replaced it by CTC's best path."""
    import torch

    import asr.decoding.recognition as recognition
    from asr.audio import load_audio
    from asr.decoding.beam import beam_search
    from asr.decoding.ctc_path import ctc_greedy
    from asr.decoding.options import DecodeOptions
    from asr.decoding.policy import decode_encoded
    from asr.decoding.scorers import joint_scorers

    path, heldout = digits_model
    _, lhotse, _ = manifests
    seen = []
    real = recognition.decode_encoded  # what the one recognition path calls
    monkeypatch.setattr(recognition, "decode_encoded", lambda *a, **k: seen.append(a[3]) or real(*a, **k))
    assert main(["evaluate", "--model", str(path), "--manifest", str(lhotse), "--plain-search",
                 "--json", str(tmp_path / "s.json")]) == 0
    assert seen and all(o == DecodeOptions().plain() and o.guards == () for o in seen)
    assert "none: plain search (ESPnet's joint CTC/attention beam search)" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["settings"]["plain_search"] is True

    model = asr_model(path)
    _long_cut(heldout[8:], tmp_path / "long", 24)
    waves = [load_audio(w, 16_000) for w, _ in heldout[:12]] + [load_audio(tmp_path / "long" / "long.flac", 16_000)]
    lens = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lens.max()))  # (B, S)
    for b, w in enumerate(waves):
        batch[b, : len(w)] = torch.from_numpy(w)
    with torch.no_grad():
        enc, enc_lens, _ = model.net.encode(batch, lens)  # (B, T', D)
        log_probs = model.net.ctc_log_probs(enc)
        plain = DecodeOptions().plain()
        got = decode_encoded(model.net, enc, enc_lens, plain, log_probs)
        beams = beam_search(model.net, enc, enc_lens, plain, joint_scorers(model.net, enc, enc_lens, 0.3, log_probs))
        guarded = decode_encoded(model.net, enc, enc_lens, DecodeOptions(), log_probs)
    assert got == [b[0].tokens for b in beams]
    ctc_best = ctc_greedy(log_probs, enc_lens)
    assert all(g == p or g == c for g, p, c in zip(guarded, got, ctc_best))


def test_word_alignment_matches_jiwer_counts():
    ref, hyp = "one two three four", "one too three four five"
    pairs = word_alignment(ref, hyp)
    assert [k for k, *_ in pairs] == ["equal", "substitute", "equal", "equal", "insert"]
    r = error_report([ref], [hyp])
    assert (r.substitutions, r.insertions, r.deletions) == (1, 1, 0)
    assert word_alignment("", "oh") == [("insert", "", "oh")]


def test_transcribe_and_evaluate_give_the_same_text_for_the_same_files(digits_model, manifests, tmp_path, capsys):
    """Short clips are decoded whole by both. A recording longer than 20 s: `asr evaluate` decodes it whole,
    `asr transcribe` cuts it where Silero VAD hears pauses; with max_segment_s=20 evaluate segments it the same
    way: then `asr transcribe` on a folder == evaluate on its cuts, file for file."""
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
    model = asr_model(path)
    recording = {c.id: c.recording_id for c in cuts}
    segmented = evaluate(model, cuts, TranscribeOptions(word_timestamps=False), max_segment_s=20)
    by_eval = {recording[i]: h for i, h in zip(segmented.ids, segmented.hyps)}
    whole = evaluate(model, cuts, TranscribeOptions(word_timestamps=False))
    by_whole = {recording[i]: h for i, h in zip(whole.ids, whole.hyps)}

    assert main(["transcribe", "--model", str(path), str(clips), "--format", "json", "--no-word-timestamps"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_transcribe = {Path(x["source"]).stem: normalise_text(x["text"]) for x in lines}
    assert len(by_transcribe) == 9 and by_transcribe == by_eval
    assert {k: v for k, v in by_whole.items() if k != "long"} == {k: v for k, v in by_eval.items() if k != "long"}
    long = next(x for x in lines if x["source"].endswith("long.flac"))
    assert len(long["segments"]) >= 10  # segmented at its pauses by transcribe, not decoded whole
    assert error_report([" ".join(texts)], [by_eval["long"]]).wer < 0.15


def test_transcribe_and_evaluate_agree_with_the_same_non_default_options(digits_model, manifests, capsys, tmp_path):
    """The issue's aim: `asr transcribe` and `asr evaluate` agree on every (short) test utterance, the decoding
    flags passed the same way to both (--plain-search included)."""
    import ast

    from asr.text import normalise_text

    path, _ = digits_model
    _, lhotse, _ = manifests
    flags = ["--beam", "3", "--ctc-weight", "0.5", "--plain-search"]
    assert main(["evaluate", "--model", str(path), "--manifest", str(lhotse), "--out-dir", str(tmp_path / "out"),
                 "--name", "t", *flags]) == 0
    recogs = (tmp_path / "out" / "recogs-t.txt").read_text().splitlines()
    by_eval = {line.split(":")[0].split("-")[0]: " ".join(ast.literal_eval(line.split("hyp=")[1])) for line in recogs
               if "hyp=" in line}
    capsys.readouterr()
    assert main(["transcribe", "--model", str(path), str(lhotse.parent / "clips"), "--format", "json",
                 "--no-word-timestamps", *flags]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_transcribe = {Path(x["source"]).stem: normalise_text(x["text"]) for x in lines}
    assert len(by_eval) == 8 and by_transcribe == by_eval


def asr_model(path):
    import asr

    return asr.load_model(path)
