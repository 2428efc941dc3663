"""The Kaldi "yes/no" corpus (openslr.org/1) through lhotse's recipe.

Usage:
    asr prepare yesno --root downloads --download --out data/yesno
    asr prepare yesno --root /corpora/waves_yesno --out data/yesno

60 recordings of 8 Hebrew words each at 8 kHz, the words (yes = 1, no = 0) in the file name.
Layout: waves_yesno/1_0_1_1_0_0_1_0.wav; --root is that waves_yesno folder (what lhotse's prepare_yesno
takes) or the folder holding it (where --download puts it). Splits: train and test, 30 files each (lhotse's split).
Audio stays at 8 kHz in the manifests; training batches are resampled on the fly.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import public
from asr.corpora.public import Archive, download_target, fetch_verified, load_prepared, locate, write_split
from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet

URL = "http://www.openslr.org/resources/1/waves_yesno.tar.gz"  # lhotse.recipes.yesno's default
SPLITS = ("train", "test")
WAVS = "_".join(["[01]"] * 8) + ".wav"  # the eight words of a recording, as its file name: 1_0_1_1_0_0_1_0.wav


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_yesno`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"),
                        help="the waves_yesno folder, or the folder holding (or to hold) it (default: downloads)")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify the archive")


def holds_corpus(folder: Path) -> bool:
    return any(folder.glob(WAVS))


def prepare_yesno(out_dir: Path, root: Path = Path("downloads"), download: bool = False) -> dict[str, CutSet]:
    from lhotse.recipes import yesno as recipe

    out_dir, root = Path(out_dir), Path(root)
    done = {s: load_prepared(out_dir, s) for s in SPLITS}
    if all(c is not None for c in done.values()):
        return done
    place = locate(root, "waves_yesno", holds_corpus)
    corpus = place.corpus
    command = public.command("yesno", root, out_dir, "--download")
    if download:
        target = download_target(place, "waves_yesno", lambda r: public.command("yesno", r, out_dir, "--download"))
        fetch_verified(Archive(URL, corpus / ".completed"), target, command,
                       unpack=lambda: recipe.download_yesno(target))
    if not corpus.is_dir():
        raise UserError(f"the yes/no corpus not found: no 1_0_1_1_0_0_1_0.wav-style files in {root} or "
                        f"{root / 'waves_yesno'}; download it (4.5 MB) with: {command}")
    found = len(list(corpus.glob("*.wav")))  # what lhotse counts
    if found != 60:  # lhotse's recipe asserts the full corpus
        raise UserError(f"{corpus} holds {found} .wav files, expected 60; delete it and run: {command}")
    manifests = recipe.prepare_yesno(corpus)
    return {s: write_split(out_dir, s, manifests[s]["recordings"], manifests[s]["supervisions"])
            for s in SPLITS}
