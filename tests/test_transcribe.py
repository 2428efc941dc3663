"""`asr transcribe` and `asr.load_model(...).transcribe(...)` against a trained digit model."""

import json
import re
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

import asr
from asr.decoding.policy import loop_check
from asr.inference.options import SegmentOptions, TranscribeOptions
from asr.audio import ArraySource
from asr.cli import main
from asr.decoding import DecodeOptions
from asr.decoding.rules import repeating
from asr.metrics import error_report
from trained_model import recognised

SR = 16_000


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_api_transcribes_held_out_voices(digits_model, precision):
    """bf16 autocast (the fast CPU path on AVX512-BF16/AMX machines) must recognise as well as fp32."""
    path, heldout = digits_model
    model = asr.load_model(path)
    items = [(str(w), (lambda w=w: ArraySource(sf.read(w, dtype="float32")[0], SR))) for w, _ in heldout]
    results = dict(model.transcribe_sources(items, TranscribeOptions(word_timestamps=False, precision=precision)))
    hyps = [results[str(w)].text for w, _ in heldout]
    wer = error_report([t for _, t in heldout], hyps).wer
    assert wer < 0.10, list(zip([t for _, t in heldout], hyps))


def test_waveform_any_rate_and_channels_gives_the_file_result(digits_model):
    path, heldout = digits_model
    model = asr.load_model(path)
    wav, text = recognised(path, heldout)[0]
    from_file = model.transcribe(wav)
    audio, _ = sf.read(wav, dtype="float32")
    stereo44 = np.stack([librosa.resample(audio, orig_sr=SR, target_sr=44_100)] * 2)  # (C, S)
    from_array = model.transcribe(torch.from_numpy(stereo44), sample_rate=44_100)
    assert from_array.text == from_file.text == text
    assert from_file.duration == pytest.approx(len(audio) / SR, abs=1e-3)
    assert from_file.segments and from_file.segments[0].words


def test_cli_writes_every_format_and_survives_a_corrupt_file(digits_model, tmp_path, capsys):
    path, heldout = digits_model
    (tmp_path / "in" / "sub").mkdir(parents=True)
    a, b = recognised(path, heldout)[1:3]
    audio, _ = sf.read(a[0], dtype="float32")
    sf.write(tmp_path / "in" / "a.flac", audio, SR)
    audio, _ = sf.read(b[0], dtype="float32")
    sf.write(tmp_path / "in" / "sub" / "b.ogg", audio, SR, subtype="VORBIS")
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    out = tmp_path / "out"
    rc = main(["transcribe", "--model", str(path), str(tmp_path / "in"), "--output-dir", str(out), "--format", "all"])
    err = capsys.readouterr().err
    assert rc == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.wav" in errors[0]
    assert "Traceback" not in err
    formats = ("txt", "json", "srt", "vtt", "tsv")
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted([f"a.{e}" for e in formats] + [f"sub/b.{e}" for e in formats])  # folders mirrored

    assert (out / "a.txt").read_text().strip() == a[1]
    j = json.loads((out / "sub" / "b.json").read_text())
    assert j["text"] == b[1] and j["duration"] > 0
    words = [w for s in j["segments"] for w in s["words"]]
    assert [w["word"] for w in words] == b[1].split()
    assert all(set(w) == {"word", "start", "end", "confidence"} for w in words)
    srt = (out / "a.srt").read_text()
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\n" + re.escape(a[1]) + "\n", srt), srt
    vtt = (out / "a.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n") and re.search(r"\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d\n", vtt)
    rows = [line.split("\t") for line in (out / "sub" / "b.tsv").read_text().splitlines()]
    assert rows[0] == ["start", "end", "text", "confidence"]
    assert [r[2] for r in rows[1:]] == b[1].split()
    assert all(int(r[0]) < int(r[1]) for r in rows[1:])


def test_cli_prints_to_stdout(digits_model, capsys):
    path, heldout = digits_model
    heldout = recognised(path, heldout)
    assert main(["transcribe", "--model", str(path), str(heldout[3][0])]) == 0
    assert capsys.readouterr().out.strip() == heldout[3][1]
    assert main(["transcribe", "--model", str(path), str(heldout[3][0]), str(heldout[4][0]), "--format", "json",
                 "--beam", "1", "--ctc-weight", "0"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    model = asr.load_model(path)  # greedy attention may differ from the default search: compare with the API's
    assert [x["text"] for x in lines] == [model.transcribe(w, beam=1, ctc_weight=0.0).text for w, _ in heldout[3:5]]
    assert [x["source"] for x in lines] == [str(w) for w, _ in heldout[3:5]]
    assert "2/2" in captured.err  # the progress bar for several files


@pytest.mark.parametrize("native", [True, False])
def test_cli_precision_bf16_transcribes_and_warns_only_where_bf16_is_emulated(digits_model, capsys, monkeypatch,
                                                                              native):
    path, heldout = digits_model
    wav, text = recognised(path, heldout)[0]
    monkeypatch.setattr("asr.commands.native_bf16_cpu", lambda: native)
    assert main(["transcribe", "--model", str(path), str(wav), "--precision", "bf16"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == text
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == (0 if native else 1)
    assert native or "no native bf16" in warnings[0]


def test_cli_usage_errors_are_one_line(digits_model, tmp_path, capsys):
    path, heldout = digits_model
    assert main(["transcribe", "--model", str(tmp_path / "nope.pt"), str(heldout[0][0])]) == 2
    assert main(["transcribe", "--model", str(path), str(tmp_path / "missing.wav")]) == 2
    assert main(["transcribe", "--model", str(path), str(heldout[0][0]), "--format", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("error: ") for line in err), err
    assert len(err) == 4  # model not found; missing.wav and then "no audio"; --format all without --output-dir
    assert "nope.pt" in err[0] and "missing.wav" in err[1] and "--output-dir" in err[3]


def test_long_file_is_segmented_and_transcribed(digits_model, tmp_path):
    """A minute of held-out utterances with pauses: one segment per utterance, at the right place."""
    path, heldout = digits_model
    model = asr.load_model(path)
    rng = np.random.default_rng(0)
    pieces, truth, t = [], [], 0.0
    for wav, text in heldout[:20]:
        pause = np.zeros(round(rng.uniform(0.8, 2.0) * SR), np.float32)
        audio, _ = sf.read(wav, dtype="float32")
        _, (a, b) = librosa.effects.trim(audio, top_db=40, frame_length=256, hop_length=64)  # where the speech is
        pieces += [pause, audio]
        truth.append((t + (len(pause) + a) / SR, t + (len(pause) + b) / SR, text))
        t += (len(pause) + len(audio)) / SR
    long = tmp_path / "long.flac"
    sf.write(long, np.concatenate(pieces), SR)
    result = model.transcribe(long, batch_size=8)
    assert len(result.segments) == len(truth)
    for seg, (start, end, _) in zip(result.segments, truth):
        assert seg.start <= start + 0.05 and seg.end >= end - 0.05 and seg.end - seg.start < end - start + 1.0
    assert error_report([x for *_, x in truth], [s.text for s in result.segments]).wer < 0.1


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_silence_and_noise_do_not_make_the_decoder_loop(digits_model, kind):
    path, _ = digits_model
    model = asr.load_model(path)
    rng = np.random.default_rng(0)
    x = np.zeros(30 * SR, np.float32) if kind == "silence" else (0.05 * rng.standard_normal(30 * SR)).astype(np.float32)
    result = model.transcribe(x)  # silence: no segment; noise: the VAD hears none, so it is decoded whole
    assert result.text == "" and result.no_speech  # the model, trained on noise clips, says nothing
    # Force the decoder to face it: 30 s of windows, no VAD, attention only and with CTC.
    for beam, ctc_weight in [(1, 0.0), (4, 0.3)]:
        result = model.transcribe(x, beam=beam, ctc_weight=ctc_weight, segments=SegmentOptions(vad=False))
        words = result.text.split()
        assert len(words) <= 30, result.text  # bounded: at most about a word a second
        assert not repeating(torch.tensor([model.tokenizer.encode(result.text)]), 4, 4)[0], result.text


def test_loop_check_prefers_ctc_over_a_looping_or_stalled_hypothesis():
    d = DecodeOptions(max_repeats=4, repeat_ngram=3, ctc_length_tolerance=0.25)
    loop = [5, 6, 5, 6, 5, 6, 5, 6]
    ctc = [5, 6, 7, 8, 9, 10, 11, 12, 5, 6]
    assert loop_check(loop + [7, 8], ctc, d) == loop + [7, 8]  # same length, no loop at the end
    assert loop_check(ctc[:2] + loop, ctc, d) == ctc  # the repetition guard stopped it
    assert loop_check(ctc + ctc[:4], ctc, d) == ctc  # 40% longer than CTC's path
    assert loop_check(ctc[:5], ctc, d) == ctc  # stopped halfway
    assert loop_check(ctc[:8], ctc, d) == ctc[:8]  # within tolerance: the decoder's word stands
    # a hypothesis CTC finds about as likely as its own best path stands at any length: there CTC's path is the
    # one dropping words (a voice CTC hears badly); the repetition guard still applies
    assert loop_check(ctc + ctc[:4], ctc, d, plausible=True) == ctc + ctc[:4]
    assert loop_check(ctc[:2] + loop, ctc, d, plausible=True) == ctc


def test_a_long_stretch_without_pauses_is_not_dropped_or_repeated(digits_model):
    """13 s of speech without a pause in one segment, far longer than any training utterance: the attention
    decoder alone stops after a few words and the joint search inserts; the loop check keeps the output whole.

    Greedy attention + loop check stays accurate (WER 3-10% on six test models trained with different seeds and
    dropout streams). The joint beam-4 search is accurate on four of the six (3-7%, two of them thanks to the
    search-error guard in `asr.decoding.policy.search_error_check`) but not on the two seed-1 models (46%, 59%: there the
    joint objective itself prefers the lost decoder's words), so for it the test holds what the loop check
    guarantees: nothing dropped, nothing repeated (0.92-1.00x the words)."""
    path, heldout = digits_model
    model = asr.load_model(path)
    items = heldout[:12]
    x = np.concatenate([sf.read(w, dtype="float32")[0] for w, _ in items])
    ref = " ".join(t for _, t in items)
    result = model.transcribe(x, beam=1, ctc_weight=0.0, segments=SegmentOptions(vad=False))
    assert len(result.segments) == 1
    assert error_report([ref], [result.text]).wer < 0.2, result.text
    result = model.transcribe(x, beam=4, ctc_weight=0.3, segments=SegmentOptions(vad=False))
    assert len(result.segments) == 1
    assert 0.75 <= len(result.text.split()) / len(ref.split()) <= 1.3, result.text
    # Attention rescoring of CTC's beam keeps to CTC-plausible paths: 3-13% WER on all six models.
    result = model.transcribe(x, beam=4, ctc_weight=0.3, search="rescore", segments=SegmentOptions(vad=False))
    assert error_report([ref], [result.text]).wer < 0.2, result.text


def test_output_dir_mirrors_folders_and_keeps_colliding_names_apart(digits_model, tmp_path, capsys):
    path, heldout = digits_model
    (wav_a, text_a), (wav_b, text_b), (wav_c, text_c) = recognised(path, heldout)[:3]
    audio_a, audio_b, audio_c = (sf.read(w, dtype="float32")[0] for w in (wav_a, wav_b, wav_c))
    src = tmp_path / "in"
    for rel, audio in [("x.wav", audio_a), ("nested/sub/x.wav", audio_b), ("nested/y.flac", audio_a)]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(src / rel, audio, SR)
    out = tmp_path / "out"
    args = ["transcribe", "--model", str(path), "--no-word-timestamps", "--output-dir"]
    assert main([*args, str(out), str(src)]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.txt")) == ["nested/sub/x.txt", "nested/y.txt", "x.txt"]
    assert (out / "nested" / "sub" / "x.txt").read_text().strip() == text_b
    assert (out / "x.txt").read_text().strip() == text_a
    glob_out = tmp_path / "glob_out"  # a glob's root is its folder before the first wildcard
    assert main([*args, str(glob_out), str(src / "**" / "x.wav")]) == 0
    assert sorted(str(p.relative_to(glob_out)) for p in glob_out.rglob("*.txt")) == ["nested/sub/x.txt", "x.txt"]
    capsys.readouterr()

    # Issue 27: speech.aiff and speech.caf side by side, and x.wav from two folders given one by one, would write
    # the same files. Every input is transcribed into a file of its own; the colliding ones keep their extension.
    mixed = tmp_path / "mixed"
    said = {mixed / "speech.aiff": (audio_a, text_a), mixed / "speech.caf": (audio_b, text_b),
            mixed / "y.flac": (audio_c, text_c), tmp_path / "a" / "x.wav": (audio_b, text_b),
            tmp_path / "b" / "x.wav": (audio_c, text_c)}
    for wav, (audio, _) in said.items():
        wav.parent.mkdir(exist_ok=True)
        sf.write(wav, audio, SR)
    kept = tmp_path / "kept"
    assert main([*args, str(kept), "--format", "json", str(mixed / "*"), str(tmp_path / "a" / "x.wav"),
                 str(tmp_path / "b" / "x.wav")]) == 0
    written = {p.name: json.loads(p.read_text()) for p in kept.iterdir()}
    expected = {"speech.aiff.json": mixed / "speech.aiff", "speech.caf.json": mixed / "speech.caf",
                "y.json": mixed / "y.flac", "x.wav.json": tmp_path / "a" / "x.wav",
                "x.wav.2.json": tmp_path / "b" / "x.wav"}  # the second x.wav: its name is the first's
    assert sorted(written) == sorted(expected)
    for name, wav in expected.items():  # each file holds its own input's transcript: none was written over
        assert (written[name]["source"], written[name]["text"]) == (str(wav), said[wav][1]), name
    err = capsys.readouterr().err.splitlines()
    notes = [line for line in err if line.startswith("note: ")]
    assert len(notes) == 2 and not [line for line in err if line.startswith(("error", "warning"))], err
    assert "speech.aiff and " in notes[0] and f"{kept / 'speech'}.<format>" in notes[0]
    assert f"{kept / 'speech.aiff'}.<format> and {kept / 'speech.caf'}.<format>" in notes[0]
    assert f"{kept / 'x.wav'}.<format> and {kept / 'x.wav.2'}.<format>" in notes[1]

    a_file = tmp_path / "out.txt"
    a_file.write_text("not a folder")
    assert main([*args, str(a_file), str(src / "x.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out.txt" in err[0] and "existing file" in err[0] and "Traceback" not in err[0]


def test_output_names_never_coincide_and_lone_names_never_move(tmp_path):
    """The fallback names themselves may be taken: by another input's own name (speech.aiff.wav writes
    speech.aiff.<format>), by the same name from another folder, or by a name differing only in case (one file
    on macOS and Windows)."""
    from asr.inference.formats import OutputNamer

    inputs = [("in/speech.aiff", Path("speech.aiff")), ("in/speech.aiff.wav", Path("speech.aiff.wav")),
              ("in/speech.caf", Path("speech.caf")), ("in/sub/Speech.wav", Path("sub/Speech.wav")),
              ("in/sub/speech.WAV", Path("sub/speech.WAV")), ("a/speech.caf", Path("speech.caf")),
              ("in/speech.caf.2.flac", Path("speech.caf.2.flac"))]
    namer = OutputNamer(tmp_path, inputs)
    got = {source: str(namer.path(source, "txt").relative_to(tmp_path)) for source, _ in inputs}
    assert got == {"in/speech.aiff": "speech.aiff.2.txt", "in/speech.aiff.wav": "speech.aiff.txt",
                   "in/speech.caf": "speech.caf.txt", "a/speech.caf": "speech.caf.3.txt",
                   "in/sub/Speech.wav": "sub/Speech.wav.txt", "in/sub/speech.WAV": "sub/speech.WAV.2.txt",
                   "in/speech.caf.2.flac": "speech.caf.2.txt"}
    assert len({name.casefold() for name in got.values()}) == len(inputs)
    assert len(namer.notes) == 2  # the speech group and the sub/speech group
    assert OutputNamer(tmp_path, inputs).stems == namer.stems  # the same inputs, the same names
    alone = OutputNamer(tmp_path, [inputs[1], inputs[6]])  # without their colliding neighbours: the same names
    assert [alone.path(s, "txt") for s in ("in/speech.aiff.wav", "in/speech.caf.2.flac")] == \
        [namer.path(s, "txt") for s in ("in/speech.aiff.wav", "in/speech.caf.2.flac")] and alone.notes == []
