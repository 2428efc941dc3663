"""`asr validate-data`: every kind of fault planted in a manifest (both kinds) is found on its line, and only there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import Recording

from asr.cli import main
from asr.data.validate import KINDS, ValidationConfig, outside_chars, validate_manifest

# (fault planted, claimed seconds, text); clean lines keep the duration statistics free of accidental outliers
CLEAN = [(None, 0.8 + 0.05 * i, "hello world") for i in range(12)]
FAULTS = [
    ("malformed", None, None),
    ("missing-file", 0.9, "hello world"),
    ("unreadable-audio", 0.95, "hello world"),
    ("empty-audio", 1.0, "hello world"),
    ("sample-rate", 1.05, "hello world"),
    ("duration-mismatch", 1.1, "hello world"),
    ("empty-text", 1.15, "?! ..."),
    ("text-too-long", 1.2, "abc def " * 8),
    ("bad-chars", 1.25, "straße 日本 ok"),
    ("too-long", 1.5, "hello world"),  # robust z +1.8: long, but not an outlier
    ("duration-outlier", 4.0, "hello world"),  # z +13, and also longer than max_duration
]
PLAN = CLEAN[:2] + FAULTS + CLEAN[2:]
CFG = ValidationConfig(sample_rate=16000, max_duration=1.45)


def tone(path: Path, seconds: float, rate: int = 16000, silent: bool = False) -> None:
    t = np.arange(int(round(seconds * rate))) / rate
    x = np.zeros_like(t) if silent else 0.1 * np.sin(2 * np.pi * 300 * t)
    sf.write(path, x.astype(np.float32), rate)


def build(tmp_path: Path, kind: str, plan=PLAN) -> tuple[Path, set[tuple[int, str]]]:
    """Write audio and a manifest for `plan`, then break the files the plan says to break.

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
            expected.add((lineno, fault))
        if fault == "duration-outlier":
            expected.add((lineno, "too-long"))
    if kind == "lhotse":  # the same cut twice
        lines.append(lines[0])
        expected.add((len(lines), "duplicate-id"))
    for i, (fault, seconds, _) in enumerate(plan):  # break files after the manifest recorded them
        wav = audio / f"u{i:02d}.wav"
        if fault == "missing-file":
            wav.unlink()
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
    assert {k for _, k in expected} == set(KINDS) - ({"duplicate-id"} if kind == "nemo" else set())
    assert report.entries == len(PLAN) + (kind == "lhotse")
    assert not report.ok and "with problems" in report.summary()


def test_clean_manifest_passes_and_the_cli_exit_status_says_so(tmp_path, capsys):
    path, expected = build(tmp_path, "nemo", CLEAN)
    assert expected == set()
    assert validate_manifest(path, CFG).ok
    assert main(["validate-data", str(path), "--sample-rate", "16000"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_cli_prints_each_problem_with_its_line_and_exits_1(tmp_path, capsys):
    path, _ = build(tmp_path, "lhotse")
    assert main(["validate-data", str(path), "--max-duration", "1.45"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: missing-file: " in out
    assert f"{path}:3: malformed: not valid JSON" in out
    assert out.strip().splitlines()[-1].startswith(f"{path}: {len(PLAN) + 1} entries (lhotse), 12 with problems")


def test_tokenizer_chars_and_what_normalisation_drops():
    assert outside_chars("Hello, World! It's naïve", "abcdefghijklmnopqrstuvwxyz'") == []  # punctuation, accents: fine
    assert outside_chars("straße 5 € 日", "abcdefghijklmnopqrstuvwxyz0123456789'") == ["ß", "€", "日"]
    assert outside_chars("abc 42", "abc") == ["4", "2"]  # a tokenizer without digits


def test_no_samples_is_empty_audio(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "e.wav", np.zeros(0, dtype=np.float32), 16000)
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"audio_filepath": "audio/e.wav", "text": "hi"}) + "\n")
    assert [(i.line, i.kind) for i in validate_manifest(path).issues] == [(1, "empty-audio")]
