"""NeMo JSON lines <-> lhotse cuts, and the one loader that takes either kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording

from asr.data.manifests import load_cuts, manifest_kind
from asr.data.nemo import read_nemo_manifest, write_nemo_manifest
from asr.errors import UserError


def tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate)
    return path


def write_lines(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


@pytest.fixture
def nemo(tmp_path) -> Path:
    data = tmp_path / "corpus"
    tone(data / "wavs" / "a.wav", 1.0)
    tone(data / "wavs" / "long.wav", 3.0, 8000)
    tone(tmp_path / "elsewhere" / "b.wav", 0.5)
    return write_lines(data / "train.jsonl", [
        {"audio_filepath": "wavs/a.wav", "text": "Hello, World!", "duration": 1.0},
        {"audio_filepath": str(tmp_path / "elsewhere" / "b.wav"), "text": "absolute path"},  # no duration
        {"audio_filepath": "wavs/long.wav", "text": "second part", "offset": 1.5, "duration": 1.0},
        {"audio_filepath": "wavs/long.wav", "text": "first part", "offset": 0.0, "duration": 1.25},
    ])


def test_nemo_lines_become_cuts_with_paths_relative_to_the_manifest(nemo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative paths must not depend on where the command runs
    cuts = read_nemo_manifest(nemo)
    assert len(cuts) == 4
    a, b, second, first = list(cuts)
    assert Path(a.recording.sources[0].source) == nemo.parent / "wavs" / "a.wav"
    assert a.supervisions[0].text == "Hello, World!"  # kept raw: the dataset normalises
    assert b.duration == pytest.approx(0.5)  # taken from the file when the line has none
    assert (second.start, second.duration, second.sampling_rate) == (1.5, 1.0, 8000)
    assert second.load_audio().shape == (1, 8000)
    assert second.recording.id == first.recording.id == "long" and second.id != first.id
    assert first.supervisions[0].start == 0 and first.supervisions[0].duration == 1.25


def test_nemo_round_trip(nemo, tmp_path):
    cuts = read_nemo_manifest(nemo)
    out = tmp_path / "corpus" / "copy.jsonl"
    write_nemo_manifest(cuts, out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0] == {"audio_filepath": "wavs/a.wav", "text": "Hello, World!", "duration": 1.0}
    assert lines[2]["offset"] == 1.5 and "offset" not in lines[3]
    again = read_nemo_manifest(out)
    assert [(c.recording.sources[0].source, c.start, c.duration, c.supervisions[0].text) for c in again] == \
           [(c.recording.sources[0].source, c.start, c.duration, c.supervisions[0].text) for c in cuts]


def test_load_cuts_takes_either_kind_and_lists_of_both(nemo, tmp_path):
    lhotse_path = tmp_path / "cuts.jsonl.gz"
    rec = Recording.from_file(tone(tmp_path / "c.wav", 0.75), recording_id="c")
    CutSet.from_cuts([rec.to_cut()]).to_file(lhotse_path)
    assert manifest_kind(lhotse_path) == "lhotse" and manifest_kind(nemo) == "nemo"
    assert list(load_cuts(lhotse_path).ids) == ["c"]
    both = load_cuts([str(nemo), lhotse_path])
    assert len(both) == 5 and not both.is_lazy
    assert both["c"].duration == pytest.approx(0.75)


def test_load_cuts_explains_what_is_wrong(nemo, tmp_path, capsys):
    rec = Recording.from_file(tone(tmp_path / "c.wav", 0.5))
    rec_path = tmp_path / "train_recordings.jsonl.gz"
    CutSet.from_cuts([rec.to_cut()]).decompose()[0].to_file(rec_path)
    with pytest.raises(UserError, match="recordings manifest; pass the \\*_cuts"):
        load_cuts(rec_path)
    with pytest.raises(UserError, match="manifest not found"):
        load_cuts(tmp_path / "nope.jsonl")
    (nemo.parent / "wavs" / "a.wav").unlink()  # one broken line: skipped with a warning, the others load
    assert len(load_cuts(nemo)) == 3
    assert "train.jsonl:1: audio file not found" in capsys.readouterr().err
    only_bad = write_lines(tmp_path / "only_bad.jsonl", [{"audio_filepath": "gone.wav", "text": "x"}])
    with pytest.raises(UserError, match=r"only_bad\.jsonl:1: audio file not found"):
        load_cuts(only_bad)
    bad = write_lines(tmp_path / "bad.jsonl", [{"audio_filepath": "x.wav"}])
    with pytest.raises(UserError, match=r"bad\.jsonl:1: .*'text'"):
        load_cuts(bad)
    with pytest.raises(UserError, match="unknown manifest kind"):
        load_cuts(write_lines(tmp_path / "odd.jsonl", [{"path": "x.wav"}]))
