"""`asr validate-data`: every kind of fault planted in a manifest (both kinds) is found on its line, and only there;
warnings (heuristics correct data trips) do not fail the check, errors do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import Recording

from asr.cli import main
from asr.data.validate import KINDS, WARNINGS, ValidationConfig, outside_chars, validate_manifest

# (fault planted, claimed seconds, text); clean lines keep the duration statistics free of accidental outliers.
# One clean line spells a number, so a numeral elsewhere is a second spelling.
CLEAN = [(None, 0.8 + 0.05 * i, "hello world" if i != 5 else "hello two worlds") for i in range(12)]
FAULTS = [
    ("malformed", None, None),
    ("missing-file", 0.9, "hello world"),
    ("directory", 0.92, "hello world"),  # a missing-file: the path is a folder
    ("unreadable-audio", 0.95, "hello world"),
    ("empty-audio", 1.0, "hello world"),
    ("sample-rate", 1.05, "hello world"),
    ("duration-mismatch", 1.1, "hello world"),
    ("empty-text", 1.15, "?! ..."),
    ("text-too-long", 1.2, "abc def " * 8),
    ("bad-chars", 1.25, "straße 日本 ok"),
    ("numeral", 1.3, "hello 2 worlds"),
    ("too-long", 1.5, "hello world"),  # long, but a plausible rate
    ("rate-outlier", 12.0, "hello world"),  # 10 characters in 12 s, and also longer than max_duration
]
PLAN = CLEAN[:2] + FAULTS + CLEAN[2:]
CFG = ValidationConfig(sample_rate=16000, max_duration=1.45)


def tone(path: Path, seconds: float, rate: int = 16000, silent: bool = False) -> None:
    t = np.arange(int(round(seconds * rate))) / rate
    x = np.zeros_like(t) if silent else 0.1 * np.sin(2 * np.pi * 300 * t)
    sf.write(path, x.astype(np.float32), rate)


def build(tmp_path: Path, kind: str, plan=PLAN, duplicates: bool = True) -> tuple[Path, set[tuple[int, str]]]:
    """Write audio and a manifest for `plan` (and, with `duplicates`, two duplicates of its first line), then
    break the files the plan says to break.

    Returns the manifest and the expected {(line, kind)}.
    """
    audio = tmp_path / "audio"
    audio.mkdir()
    lines, expected = [], set()
    for i, (fault, seconds, text) in enumerate(plan):
        lineno = i + 1
        if fault == "malformed":
            lines.append("{not json")
            expected.add((lineno, fault))
            continue
        wav = audio / f"u{i:02d}.wav"
        tone(wav, seconds, silent=fault == "empty-audio")
        if kind == "nemo":
            entry = {"audio_filepath": f"audio/{wav.name}", "text": text, "duration": seconds}
        else:
            cut = Recording.from_file(wav).to_cut()
            cut.supervisions = [_sup(cut, text)]
            entry = cut.to_dict()
        lines.append(json.dumps(entry))
        if fault:
            expected.add((lineno, "missing-file" if fault == "directory" else fault))
        if fault == "rate-outlier":
            expected.add((lineno, "too-long"))
    if duplicates:
        first = json.loads(lines[0])
        lines.append(json.dumps(first, indent=None, separators=(",", ":")))  # the same entry, written differently
        expected.add((len(lines), "duplicate-line"))
        if kind == "nemo":  # the same audio with another transcript
            lines.append(json.dumps({**first, "text": "world hello"}))
        else:  # the same cut id for other audio
            lines.append(json.dumps({**json.loads(lines[1]), "id": first["id"]}))
        expected.add((len(lines), "duplicate-id"))
    for i, (fault, seconds, _) in enumerate(plan):  # break files after the manifest recorded them
        wav = audio / f"u{i:02d}.wav"
        if fault == "missing-file":
            wav.unlink()
        elif fault == "directory":
            wav.unlink()
            wav.mkdir()
        elif fault == "unreadable-audio":
            wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200))
        elif fault == "sample-rate":
            tone(wav, seconds, rate=8000)
        elif fault == "duration-mismatch":
            tone(wav, seconds + 0.5)
    path = tmp_path / ("train.jsonl" if kind == "nemo" else "train_cuts.jsonl")
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def _sup(cut, text):
    from lhotse import SupervisionSegment

    return SupervisionSegment(id=cut.id, recording_id=cut.recording_id, start=0, duration=cut.duration, text=text)


@pytest.mark.parametrize("kind", ["nemo", "lhotse"])
def test_every_planted_fault_is_found_on_its_line(tmp_path, kind):
    path, expected = build(tmp_path, kind)
    report = validate_manifest(path, CFG)
    found = {(i.line, i.kind) for i in report.issues}
    assert found == expected
    assert {k for _, k in expected} == set(KINDS)
    assert report.entries == len(PLAN) + 2
    assert not report.ok and "lines with errors" in report.summary()
    assert {i.kind for i in report.warnings} == WARNINGS == {"text-too-long", "rate-outlier"}
    folder = next(i for i in report.issues if i.line == 5)
    assert folder.message.endswith("is a directory, not an audio file"), folder


def test_clean_manifest_passes_and_the_cli_exit_status_says_so(tmp_path, capsys):
    path, expected = build(tmp_path, "nemo", CLEAN, duplicates=False)
    assert expected == set()
    assert validate_manifest(path, CFG).ok
    assert main(["validate-data", str(path), "--sample-rate", "16000"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_cli_prints_each_problem_with_its_line_and_exits_1(tmp_path, capsys):
    path, _ = build(tmp_path, "lhotse")
    assert main(["validate-data", str(path), "--max-duration", "1.45"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: error: missing-file: " in out
    assert f"{path}:3: error: malformed: not valid JSON" in out
    assert (f"{path}:13: error: numeral: '2' written in digits, but the corpus spells numbers as words "
            "('two' on line 19); write numbers as they are spoken") in out
    assert f"{path}:11: warning: text-too-long: " in out
    # 13 faulty lines (rate-outlier's line is also too-long), 2 duplicates; the summary counts warnings too
    assert out.strip().splitlines()[-1] == (
        f"{path}: {len(PLAN) + 2} entries (lhotse), 14 lines with errors (1 malformed, 1 duplicate-line, "
        "1 duplicate-id, 2 missing-file, 1 unreadable-audio, 1 empty-audio, 1 sample-rate, 1 duration-mismatch, "
        "1 empty-text, 1 bad-chars, 1 numeral, 2 too-long); 2 warnings (1 text-too-long, 1 rate-outlier)"
    )


def test_warnings_alone_exit_0_unless_strict(tmp_path, capsys):
    """What the project's own corpora have: fast synthetic speech (dense text) and a slow speaker (an outlier)."""
    plan = CLEAN + [(None, 1.0, "abc def " * 8), (None, 12.0, "hello world")]
    path, _ = build(tmp_path, "nemo", plan, duplicates=False)
    report = validate_manifest(path, ValidationConfig(sample_rate=16000))
    assert report.ok and [i.kind for i in report.warnings] == ["text-too-long", "rate-outlier"]
    assert main(["validate-data", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:13: warning: text-too-long: " in out
    assert out.strip().splitlines()[-1] == (
        f"{path}: 14 entries (nemo), no errors; 2 warnings (1 text-too-long, 1 rate-outlier)"
    )
    assert main(["validate-data", str(path), "--strict"]) == 1


def test_word_tokenizer_counts_words_and_flags_every_numeral(tmp_path):
    """Without number words in the corpus a digit is only wrong for a word vocabulary; 16 words in 1 s are
    63 characters (too dense for character CTC) but not more words than a word CTC can emit: for a word
    tokenizer they are a rate outlier instead (5x the corpus's characters per second)."""
    plan = [(None, 0.8 + 0.05 * i, "hello world") for i in range(12)] + [(None, 1.0, "abc def " * 8),
                                                                        (None, 1.0, "room 101 please")]
    path, _ = build(tmp_path, "nemo", plan, duplicates=False)
    assert [(i.line, i.kind) for i in validate_manifest(path).issues] == [(13, "text-too-long")]
    issues = validate_manifest(path, ValidationConfig(tokenizer_kind="word")).issues
    assert sorted((i.line, i.kind) for i in issues) == [(13, "rate-outlier"), (14, "numeral")]
    numeral = next(i for i in issues if i.kind == "numeral")
    assert "'101' written in digits, but a word tokenizer" in numeral.message


def test_repeated_tokens_need_a_blank_between_them():
    """CTC emits "ll" as l-blank-l: 8 characters with 3 repeats need 11 frames (over 10/s in 1 s)."""
    from asr.data.validate import Issue, _check_text, _Numbers

    cfg = ValidationConfig(max_chars_per_second=10)
    for text, flagged in [("aabbccdd", True), ("abcdabcd", False)]:
        issues: list[Issue] = []
        _check_text(1, text, 1.0, cfg, issues, _Numbers())
        assert bool(issues) == flagged, (text, issues)


def test_tokenizer_chars_and_what_normalisation_drops():
    assert outside_chars("Hello, World! It's naive", "abcdefghijklmnopqrstuvwxyz'") == []  # punctuation: fine
    assert outside_chars("naïve café", "abcdefghijklmnopqrstuvwxyz'") == ["ï", "é"]  # accented letters are letters
    assert outside_chars("straße 5 € 日", "abcdefghijklmnopqrstuvwxyz0123456789'") == ["€", "日"]  # ß casefolds to ss
    assert outside_chars("abc 42", "abc") == ["4", "2"]  # a tokenizer without digits


def test_no_samples_is_empty_audio(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "e.wav", np.zeros(0, dtype=np.float32), 16000)
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"audio_filepath": "audio/e.wav", "text": "hi"}) + "\n")
    assert [(i.line, i.kind) for i in validate_manifest(path).issues] == [(1, "empty-audio")]


def _rows(tmp_path: Path, plan: list[tuple[float, str]]) -> Path:
    """A NeMo manifest of `plan` [(seconds, text)] with short silent-ish audio (only the claimed durations count)."""
    (tmp_path / "audio").mkdir(exist_ok=True)
    lines = []
    for i, (seconds, text) in enumerate(plan):
        tone(tmp_path / "audio" / f"r{i:03d}.wav", seconds)
        lines.append(json.dumps({"audio_filepath": f"audio/r{i:03d}.wav", "text": text, "duration": seconds}))
    path = tmp_path / "rates.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


# Read speech at LibriSpeech's ~14 characters per second, long and short: a 1.5 s "yes sir" with pauses around
# it, a 0.6 s "no", a slow 3 s "well well", a fast 4 s sentence, a 25 s paragraph.
PLAUSIBLE = [(4.0 + 0.7 * i, "the quick brown fox jumps over the lazy dog " * (1 + i // 4)) for i in range(16)] + [
    (1.5, "yes sir"), (0.6, "no"), (3.0, "well well"), (1.5, "oh no not now"), (2.0, "i see"),
    (4.0, "and so it was that the whole of the village came out to see him go by"), (25.0, "it was a long " * 25),
]


def test_plausible_short_and_long_utterances_give_no_warning(tmp_path):
    report = validate_manifest(_rows(tmp_path, PLAUSIBLE), ValidationConfig(decode=False))
    assert report.issues == [], report.lines()


@pytest.mark.parametrize("seconds, text, tokenizer, kind", [
    (1.0, "word " * 60, None, "text-too-long"),  # more characters than CTC can emit: said once, not twice
    (1.0, "alpha beta " * 10, "word", "rate-outlier"),  # 20 words/s: under the word limit, but 90 characters/s
    (30.0, "hello", None, "rate-outlier"),
])
def test_a_transcript_that_cannot_belong_to_its_audio_warns_once(tmp_path, seconds, text, tokenizer, kind):
    cfg = ValidationConfig(decode=False, tokenizer_kind=tokenizer)
    report = validate_manifest(_rows(tmp_path, PLAUSIBLE + [(seconds, text)]), cfg)
    assert [(i.line, i.kind) for i in report.issues] == [(len(PLAUSIBLE) + 1, kind)], report.lines()


def test_many_problems_of_a_kind_are_counted_in_one_line(tmp_path, capsys):
    plan = PLAUSIBLE + [(30.0 + i, "hello") for i in range(8)]
    path = _rows(tmp_path, plan)
    assert main(["validate-data", str(path), "--quick"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    first = len(PLAUSIBLE) + 1
    assert [line.split(": ")[0] for line in out[:3]] == [f"{path}:{first + i}" for i in range(3)]
    rest = ", ".join(str(first + i) for i in range(3, 8))
    assert out[3] == f"{path}: warning: rate-outlier: 5 more like these (lines {rest}); --all prints every one"
    assert out[4].endswith("no errors; 8 warnings (8 rate-outlier)") and len(out) == 5
    assert main(["validate-data", str(path), "--quick", "--all"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 9
