"""Mozilla Common Voice through lhotse's recipe.

Usage:
    asr prepare commonvoice --root downloads --language en --out data/cv-en
    asr prepare commonvoice --root downloads --language cy --release cv-corpus-13.0-2023-03-09 --download

Layout under --root (as unpacked from Mozilla's archive):
    cv-corpus-{version}/{language}/{train,dev,test}.tsv + cv-corpus-{version}/{language}/clips/*.mp3
Splits: train, dev, test. Most releases need an accepted licence on commonvoice.mozilla.org: download the archive
there, unpack it under --root and run without --download (lhotse's downloader only knows the old public URLs).
asr.text.normalise_text keeps a-z, 0-9 and apostrophes (accents stripped), so only languages written in the Latin
alphabet keep their transcripts; utterances left empty are dropped with a warning.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora.public import load_prepared, require_dir, write_split
from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet

SPLITS = ("train", "dev", "test")
DEFAULT_RELEASE = "cv-corpus-13.0-2023-03-09"  # lhotse's default release


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_commonvoice`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"), help="folder holding cv-corpus-*/")
    parser.add_argument("--language", default="en", help="Common Voice language code, e.g. en, de, cy (default en)")
    parser.add_argument("--release", default=None, help="cv-corpus-* folder name (default: the newest under --root)")
    parser.add_argument("--download", action="store_true", help="try lhotse's downloader (most releases need a login)")
    parser.add_argument("--num-jobs", type=int, default=2, help="processes reading audio headers")


def prepare_commonvoice(out_dir: Path, root: Path = Path("downloads"), language: str = "en",
                        release: str | None = None, download: bool = False, num_jobs: int = 2) -> dict[str, CutSet]:
    from lhotse.recipes import commonvoice as recipe

    from asr.data.manifests import configure_audio_backend

    out_dir, root = Path(out_dir), Path(root)
    done = {s: load_prepared(out_dir, s) for s in SPLITS}
    if all(c is not None for c in done.values()):
        return done
    configure_audio_backend()
    manual = _manual(root, language)
    if download:
        try:
            recipe.download_commonvoice(root, languages=[language], release=release or DEFAULT_RELEASE)
        except Exception as e:  # urllib, tarfile and lhotse errors all mean "fetch it by hand"
            raise UserError(f"Common Voice download failed ({type(e).__name__}: {e}); {manual}") from e
    corpus = _find_release(root, release, language)
    lang_dir = require_dir(corpus / language, f"Common Voice {language}", manual)
    require_dir(lang_dir / "clips", f"Common Voice {language} clips", manual)
    missing = [f"{s}.tsv" for s in SPLITS if not (lang_dir / f"{s}.tsv").is_file()]
    if missing:
        raise UserError(f"{lang_dir} lacks {', '.join(missing)}; is the archive fully unpacked?")
    with tempfile.TemporaryDirectory() as tmp:  # lhotse insists on writing its own copies; ours are written below
        manifests = recipe.prepare_commonvoice(corpus, tmp, languages=[language], splits=SPLITS,
                                               num_jobs=num_jobs)[language]
    return {s: write_split(out_dir, s, manifests[s]["recordings"],
                           manifests[s]["supervisions"]) for s in SPLITS}


def _find_release(root: Path, release: str | None, language: str) -> Path:
    if release:
        return require_dir(root / release, f"Common Voice release {release}", _manual(root, language))
    found = sorted((p for p in root.glob("cv-corpus-*") if (p / language).is_dir()), key=_version)
    if not found:
        raise UserError(f"Common Voice not found: expected a folder {root}/cv-corpus-*/{language}; "
                        + _manual(root, language))
    return found[-1]


def _version(folder: Path) -> tuple[float, str]:
    """cv-corpus-9.0-2022-04-27 < cv-corpus-13.0-2023-03-09 (by number, not alphabetically)."""
    match = re.match(r"cv-corpus-(\d+(?:\.\d+)?)", folder.name)
    return (float(match.group(1)) if match else -1.0, folder.name)


def _manual(root: Path, language: str) -> str:
    return (f"download the {language} archive from https://commonvoice.mozilla.org/datasets, unpack it under "
            f"{root} and run: asr prepare commonvoice --root {root} --language {language}")
