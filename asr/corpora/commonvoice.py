"""Mozilla Common Voice through lhotse's recipe.

Usage:
    asr prepare commonvoice --root downloads --language en --out data/cv-en
    asr prepare commonvoice --root /corpora/cv-corpus-13.0-2023-03-09 --out data/cv   # its one language, said which
    asr prepare commonvoice --root downloads --language cy --release cv-corpus-13.0-2023-03-09 --download

Layout (as unpacked from Mozilla's archive):
    cv-corpus-{version}/{language}/{train,dev,test}.tsv + cv-corpus-{version}/{language}/clips/*.mp3
--root is the cv-corpus-* folder (what lhotse's prepare_commonvoice takes), its language folder, or the folder
holding cv-corpus-* folders (the newest with the language is read). Without --language, the one language found
is prepared (and named on one line). Splits: train, dev, test. Most releases need an accepted licence on
commonvoice.mozilla.org: download the archive there, unpack it, point --root at it and run without --download
(lhotse's downloader only knows the old public URLs).
Transcripts in any script go through asr.text.normalise_text (letters, marks and numbers kept, casefolded,
punctuation dropped); languages written without spaces between words (zh-*, yue, ja, th, lo, km, my, nan-*) are
split into one word per character, so their WER is a character error rate. Utterances left empty are dropped with
a warning.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import public
from asr.corpora.public import load_prepared, require_dir, say_found, write_split
from asr.errors import UserError, brief
from asr.text import normalise_text

if TYPE_CHECKING:
    from lhotse import CutSet

SPLITS = ("train", "dev", "test")
DEFAULT_RELEASE = "cv-corpus-13.0-2023-03-09"  # lhotse's default release
# Common Voice codes (before any "-CN", "-TW", ...) of languages written without spaces between words
UNSPACED = ("ja", "km", "lo", "my", "nan", "th", "yue", "zh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_commonvoice`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"),
                        help="a cv-corpus-* folder, or the folder holding them (default: downloads)")
    parser.add_argument("--language", default=None, help="Common Voice language code, e.g. en, de, cy (default: "
                        "the one under --root; with --download, en)")
    parser.add_argument("--release", default=None, help="cv-corpus-* folder name (default: the newest under --root)")
    parser.add_argument("--download", action="store_true", help="try lhotse's downloader (most releases need a login)")
    parser.add_argument("--num-jobs", type=int, default=2, help="processes reading audio headers")


def prepare_commonvoice(out_dir: Path, root: Path = Path("downloads"), language: str | None = None,
                        release: str | None = None, download: bool = False, num_jobs: int = 2) -> dict[str, CutSet]:
    """Manifests of train/dev/test of one language under `out_dir`; `language` None: the one found under `root`."""
    from lhotse.recipes import commonvoice as recipe

    from asr.data.manifests import configure_audio_backend

    out_dir, root = Path(out_dir), Path(root)
    done = {s: load_prepared(out_dir, s) for s in SPLITS}
    if all(c is not None for c in done.values()):
        return done
    configure_audio_backend()
    picked = None  # the language whose folder --root is, if it is one (its release is the folder above)
    if (root / "clips").is_dir():
        root, picked = root.parent, root.name
    # the folder holding the cv-corpus-* folders: what the archive unpacks into and lhotse downloads into
    holder = root.parent if _is_release(root) else root
    if download:
        language = language or picked or "en"
        release = release or (root.name if _is_release(root) else DEFAULT_RELEASE)
        try:
            recipe.download_commonvoice(holder, languages=[language], release=release)
        except Exception as e:  # urllib, tarfile and lhotse errors all mean "fetch it by hand"
            raise UserError(f"Common Voice download failed ({brief(e)}); "
                            f"{_manual(holder, language, out_dir)}") from e
    corpus = _find_release(root, release, language or picked, holder, out_dir)
    if language is None:
        found = [picked] if picked else _languages(corpus)
        if not found:
            raise UserError(f"Common Voice not found: no <language>/clips folder in {corpus}; "
                            + _manual(holder, "en", out_dir))
        if len(found) > 1:
            raise UserError(f"{corpus} holds the languages {', '.join(found)}; choose one with: "
                            + public.command("commonvoice", root, out_dir, "--language", found[0]))
        language = found[0]
        say_found("commonvoice", found, corpus, "--language")
    manual = _manual(holder, language, out_dir)
    lang_dir = require_dir(corpus / language, f"Common Voice {language}", manual)
    require_dir(lang_dir / "clips", f"Common Voice {language} clips", manual)
    missing = [f"{s}.tsv" for s in SPLITS if not (lang_dir / f"{s}.tsv").is_file()]
    if missing:
        raise UserError(f"{lang_dir} lacks {', '.join(missing)}; is the archive fully unpacked? {manual}")
    with tempfile.TemporaryDirectory() as tmp:  # lhotse insists on writing its own copies; ours are written below
        manifests = recipe.prepare_commonvoice(corpus, tmp, languages=[language], splits=SPLITS,
                                               num_jobs=num_jobs)[language]
    split_chars = language.split("-")[0] in UNSPACED
    if split_chars:
        print(f"commonvoice: {language} is written without spaces; its transcripts are split into characters")
    return {s: write_split(out_dir, s, manifests[s]["recordings"],
                           manifests[s]["supervisions"].transform_text(lambda t: normalise_text(t, split_chars)))
            for s in SPLITS}


def _is_release(folder: Path) -> bool:
    """A cv-corpus-* folder: so named, or (renamed) holding a language folder with clips/."""
    return folder.name.startswith("cv-corpus-") or bool(_languages(folder))


def _languages(release: Path) -> list[str]:
    return sorted(d.parent.name for d in release.glob("*/clips") if d.is_dir()) if release.is_dir() else []


def _find_release(root: Path, release: str | None, language: str | None, holder: Path, out_dir: Path) -> Path:
    """The cv-corpus-* folder to read: `root` itself, or the one named `release` (else the newest) under it."""
    manual = _manual(holder, language or "en", out_dir)
    if release:
        if root.name == release:
            return root
        return require_dir(root / release, f"Common Voice release {release}", manual)
    if _is_release(root):
        return root
    has = (lambda p: (p / language).is_dir()) if language else _languages
    found = sorted((p for p in root.glob("cv-corpus-*") if has(p)), key=_version)
    if not found:
        raise UserError(f"Common Voice not found: no cv-corpus-*/{language or '<language>'}/clips folder in {root}; "
                        + manual)
    return found[-1]


def _version(folder: Path) -> tuple[float, str]:
    """cv-corpus-9.0-2022-04-27 < cv-corpus-13.0-2023-03-09 (by number, not alphabetically)."""
    match = re.match(r"cv-corpus-(\d+(?:\.\d+)?)", folder.name)
    return (float(match.group(1)) if match else -1.0, folder.name)


def _manual(holder: Path, language: str, out_dir: Path) -> str:
    return (f"download the {language} archive from https://commonvoice.mozilla.org/datasets, unpack it in {holder} "
            f"(it makes cv-corpus-*/{language}/) and run: "
            + public.command("commonvoice", holder, out_dir, "--language", language))
