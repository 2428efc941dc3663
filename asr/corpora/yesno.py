"""The Kaldi "yes/no" corpus (openslr.org/1) through lhotse's recipe.

Usage:
    asr prepare yesno --root downloads --download
    asr prepare yesno --root downloads --out data/yesno

60 recordings of 8 Hebrew words each at 8 kHz, the words (yes = 1, no = 0) in the file name.
Layout under --root: waves_yesno/1_0_1_1_0_0_1_0.wav. Splits: train and test, 30 files each (lhotse's split).
Audio stays at 8 kHz in the manifests; training batches are resampled on the fly.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora.public import Archive, download_hint, fetch_verified, load_prepared, require_dir, write_split
from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet

URL = "http://www.openslr.org/resources/1/waves_yesno.tar.gz"  # lhotse.recipes.yesno's default
SPLITS = ("train", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_yesno`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"), help="folder holding waves_yesno/")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify the archive")


def prepare_yesno(out_dir: Path, root: Path = Path("downloads"), download: bool = False) -> dict[str, CutSet]:
    from lhotse.recipes import yesno as recipe

    out_dir, root = Path(out_dir), Path(root)
    done = {s: load_prepared(out_dir, s) for s in SPLITS}
    if all(c is not None for c in done.values()):
        return done
    corpus = root / "waves_yesno"
    command = f"asr prepare yesno --root {root} --download"
    if download:
        fetch_verified(Archive(URL, corpus / ".completed"), root, command, unpack=lambda: recipe.download_yesno(root))
    require_dir(corpus, "the yes/no corpus", download_hint(command))
    found = len(list(corpus.glob("*.wav")))
    if found != 60:  # lhotse's recipe asserts the full corpus
        raise UserError(f"{corpus} holds {found} .wav files, expected 60; delete it and run `{command}`")
    manifests = recipe.prepare_yesno(corpus)
    return {s: write_split(out_dir, s, manifests[s]["recordings"], manifests[s]["supervisions"])
            for s in SPLITS}
