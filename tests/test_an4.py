"""CMU AN4: `asr prepare an4` on a small fake corpus in CMU's layout (SPHERE files, etc/ lists), its speaker-disjoint
dev split, --download against a copy of the archive served on 127.0.0.1, and the real corpus in ../shared when there."""

from __future__ import annotations

import hashlib
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))

from serve_util import serving  # noqa: E402

from asr.corpora import an4, public  # noqa: E402
from asr.errors import UserError  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "an4"
TRAIN = {"fash": ["YES", "GO"], "fbbh": ["RUBOUT G M E F THREE NINE"], "mcen": ["ENTER SIX", "NO", "STOP"]}
TEST = {"fcaw": ["ERASE C Q Q F SEVEN"], "mjgm": ["B A O Z FIVE THREE"]}


def fake_an4(parent: Path) -> Path:
    """An an4/ folder as CMU ships it, with a few 0.3 s SPHERE files."""
    root = parent / "an4"
    for split, folder, speakers in (("train", "an4_clstk", TRAIN), ("test", "an4test_clstk", TEST)):
        lines, ids = [], []
        for speaker, texts in speakers.items():
            for n, text in enumerate(texts):
                uid = f"an{n}-{speaker}-b"
                path = root / "wav" / folder / speaker / f"{uid}.sph"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, np.random.default_rng(n).uniform(-0.1, 0.1, 4800), 16000, format="NIST",
                         subtype="PCM_16")
                lines.append(f"<s> {text} </s> ({uid})")
                ids.append(f"{folder}/{speaker}/{uid}")
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / f"an4_{split}.transcription").write_text("\n".join(lines) + "\n")
        (root / "etc" / f"an4_{split}.fileids").write_text("\n".join(ids) + "\n")
    return root


def speakers(cuts) -> set[str]:
    return {c.supervisions[0].speaker for c in cuts}


def test_prepare_reads_sphere_and_holds_whole_speakers_out_as_dev(tmp_path):
    root = fake_an4(tmp_path)
    cuts = an4.prepare_an4(tmp_path / "out", root=root, dev_utterances=2)
    assert speakers(cuts["dev"]) == {"fash"} and speakers(cuts["train"]) == {"fbbh", "mcen"}
    assert speakers(cuts["test"]) == {"fcaw", "mjgm"}
    texts = {c.id: c.supervisions[0].text for c in cuts["train"]}
    assert texts["an0-fbbh-b"] == "rubout g m e f three nine"  # normalised as every corpus is
    audio = next(iter(cuts["test"])).load_audio()
    assert audio.shape == (1, 4800) and cuts["test"][0].sampling_rate == 16000
    assert (tmp_path / "out" / "test_cuts.jsonl.gz").is_file()


def test_an_unreadable_file_is_skipped_and_the_rest_prepared(tmp_path, capsys):
    root = fake_an4(tmp_path)
    (root / "wav" / "an4_clstk" / "mcen" / "an1-mcen-b.sph").write_bytes(b"not a sphere file")
    cuts = an4.prepare_an4(tmp_path / "out", root=root, dev_utterances=2)
    assert len(cuts["train"]) == 3 and "skipped 1 unreadable" in capsys.readouterr().err


def test_transcription_lines_parse():
    assert an4.parse_transcription("<s> YES </s> (an251-fash-b)") == ("an251-fash-b", "YES")
    assert an4.parse_transcription("   ") is None
    with pytest.raises(ValueError):
        an4.parse_transcription("<s> YES </s>")


def test_missing_corpus_says_how_to_download(tmp_path):
    with pytest.raises(UserError, match="--download"):
        an4.prepare_an4(tmp_path / "out", root=tmp_path / "nothing")


def test_download_fetches_verifies_and_unpacks(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    with tarfile.open(site / "an4_sphere.tar.gz", "w:gz") as tar:
        tar.add(fake_an4(tmp_path / "src"), arcname="an4")
    digest = hashlib.sha256((site / "an4_sphere.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setitem(public.KNOWN_CHECKSUMS, "an4_sphere.tar.gz", ("sha256", digest))
    with serving(site) as base:
        monkeypatch.setattr(an4, "URL", f"{base}/an4_sphere.tar.gz")
        cuts = an4.prepare_an4(tmp_path / "out", root=tmp_path / "downloads", download=True, dev_utterances=2)
    assert (tmp_path / "downloads" / "an4" / ".completed").is_file()
    assert sum(len(c) for c in cuts.values()) == 8


@pytest.mark.skipif(not (SHARED / "etc").is_dir(), reason="CMU AN4 is not in ../shared/data/an4")
def test_the_real_corpus_splits_as_cmu_does(tmp_path):
    cuts = an4.prepare_an4(tmp_path / "out", root=SHARED)
    assert len(cuts["test"]) == 130 and len(speakers(cuts["test"])) == 10
    assert len(cuts["train"]) + len(cuts["dev"]) == 948 and len(cuts["dev"]) >= 100
    assert not speakers(cuts["dev"]) & speakers(cuts["train"])
    assert not speakers(cuts["test"]) & (speakers(cuts["train"]) | speakers(cuts["dev"]))
