"""FSDD's --download and `asr demo` without ../shared: a small fake archive served on 127.0.0.1 stands in for
GitHub's, so no test touches the network."""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import asr.corpora.fsdd as fsdd
import asr.demo as demo
from asr.corpora import public
from asr.errors import UserError
from serve_util import serving

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")  # six, as in the newest tag
TAKES = (0, 5, 10)  # one test, one dev, one train take in the customary split
ARCHIVE = fsdd.FOLDER + ".tar.gz"


def fake_archive(where: Path) -> Path:
    """FOLDER/recordings/{digit}_{speaker}_{take}.wav for digits 0 and 7, plus the README, as one .tar.gz."""
    recordings = where / "src" / fsdd.FOLDER / "recordings"
    recordings.mkdir(parents=True)
    (recordings.parent / "README.md").write_text("# Free Spoken Digit Dataset (FSDD)\n")
    tone = (0.1 * np.sin(np.arange(800) / 3)).astype(np.float32)  # 0.1 s at 8 kHz
    for speaker in SPEAKERS:
        for digit in (0, 7):
            for take in TAKES:
                sf.write(recordings / f"{digit}_{speaker}_{take}.wav", tone, 8000, subtype="PCM_16")
    archive = where / "served" / ARCHIVE
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(recordings.parent, arcname=fsdd.FOLDER)
    return archive


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[Path]:
    """The fake archive behind fsdd.URL, its sha256 the known one; yields the archive."""
    archive = fake_archive(tmp_path)
    monkeypatch.setitem(public.KNOWN_CHECKSUMS, ARCHIVE,
                        ("sha256", hashlib.sha256(archive.read_bytes()).hexdigest()))
    with serving(archive.parent) as base:
        monkeypatch.setattr(fsdd, "URL", f"{base}/{ARCHIVE}")
        yield archive


def test_download_fetches_verifies_unpacks_and_prepares(served, tmp_path):
    root, out = tmp_path / "downloads", tmp_path / "data" / "fsdd"
    cuts = fsdd.prepare_fsdd(root, out, download=True)
    corpus = root / fsdd.FOLDER
    assert (corpus / ".completed").is_file() and not (root / (fsdd.FOLDER + ".partial")).exists()
    assert (root / ARCHIVE).read_bytes() == served.read_bytes()
    per_take = len(SPEAKERS) * 2  # two digits a speaker
    assert {s: len(c) for s, c in cuts.items()} == {"train": per_take, "dev": per_take, "test": per_take}
    assert {c.supervisions[0].speaker for c in cuts["test"]} == set(SPEAKERS)
    assert (out / "test_cuts.jsonl.gz").is_file() and str(corpus.resolve()) in (out / "ATTRIBUTION.md").read_text()
    held = fsdd.prepare_fsdd(root, tmp_path / "lucas", split="speaker", test_speaker="lucas", download=True)
    assert len(held["test"]) == 2 * len(TAKES)  # the unpacked copy is read again, nothing fetched


def test_a_corrupt_archive_is_one_line_naming_it_and_the_command_and_nothing_is_unpacked(served, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setitem(public.KNOWN_CHECKSUMS, ARCHIVE, ("sha256", "0" * 64))
    root, out = tmp_path / "downloads", tmp_path / "data" / "fsdd"
    with pytest.raises(UserError) as e:
        fsdd.prepare_fsdd(root, out, download=True)
    message = str(e.value)
    assert str(root / ARCHIVE) in message and "\n" not in message
    assert f"run `asr prepare fsdd --root {root} --download --out {out}` again" in message
    assert sorted(p.name for p in root.iterdir()) == [ARCHIVE]  # fetched, not unpacked
    assert not out.exists()


def test_the_demo_downloads_fsdd_when_neither_shared_nor_env_has_it(served, tmp_path, monkeypatch):
    monkeypatch.delenv(fsdd.FSDD_ENV, raising=False)
    monkeypatch.setattr(public, "__file__", str(tmp_path / "repo" / "asr" / "corpora" / "public.py"))  # no ../shared
    monkeypatch.chdir(tmp_path)
    assert fsdd.default_root() is None
    monkeypatch.setattr("asr.corpora.tts_digits.prepare_tts_digits", lambda *a, **k: None)
    cfg = demo.DemoConfig(out=tmp_path / "exp", data=tmp_path / "data", downloads=tmp_path / "cache")
    corpora = demo.prepare(cfg)
    assert (tmp_path / "cache" / fsdd.FOLDER / ".completed").is_file()
    assert corpora["fsdd"] == tmp_path / "data" / "fsdd" and (corpora["fsdd"] / "train_cuts.jsonl.gz").is_file()


def test_the_demo_keeps_the_shared_copy_when_there(tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "data" / "fsdd"
    (shared / "recordings").mkdir(parents=True)
    monkeypatch.delenv(fsdd.FSDD_ENV, raising=False)
    monkeypatch.setattr(public, "__file__", str(tmp_path / "repo" / "asr" / "corpora" / "public.py"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fsdd, "download_fsdd", lambda *a: pytest.fail("downloaded although ../shared has FSDD"))
    assert demo.fsdd_root(demo.DemoConfig(downloads=tmp_path / "cache")) == shared


def test_holdout_speaker_without_shared_downloads_then_names_the_six_speakers(served, tmp_path, monkeypatch, capsys):
    from asr.cli import main

    monkeypatch.delenv(fsdd.FSDD_ENV, raising=False)
    monkeypatch.setattr(public, "__file__", str(tmp_path / "repo" / "asr" / "corpora" / "public.py"))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--out", "exp", "--holdout-speaker", "bob"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the download's progress bars
    assert last == ("error: --holdout-speaker 'bob' is not an FSDD speaker here; choose one of "
                    f"{', '.join(SPEAKERS)}, or all")
    assert (tmp_path / "downloads" / fsdd.FOLDER / ".completed").is_file() and not (tmp_path / "exp").exists()
