"""LJ Speech 1.1 (keithito.com/LJ-Speech-Dataset: 13,100 clips, one speaker, 24 h) through lhotse's recipe.

Usage:
    asr prepare ljspeech --root downloads --download --out data/ljspeech
    asr prepare ljspeech --root /corpora/LJSpeech-1.1 --out data/ljspeech --dev-fraction 0.01 --test-fraction 0.01

Layout: LJSpeech-1.1/metadata.csv (id|text|normalised text) + LJSpeech-1.1/wavs/{id}.wav; --root is that
LJSpeech-1.1 folder (what lhotse's prepare_ljspeech takes) or the folder holding it (where --download puts it).
The corpus has no official split: a seeded shuffle holds out `--dev-fraction` and `--test-fraction` (2% each)
as dev and test. Transcripts come from the normalised column (numbers spelled out), then asr.text.normalise_text.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import public
from asr.corpora.public import (Archive, download_hint, download_target, fetch_verified, load_prepared, locate,
                                require_dir, write_split)
from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet

URL = "http://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"  # what lhotse's download_ljspeech fetches
SPLITS = ("train", "dev", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_ljspeech`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"),
                        help="the LJSpeech-1.1 folder, or the folder holding (or to hold) it (default: downloads)")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify the archive")
    parser.add_argument("--dev-fraction", type=float, default=0.02, help="share held out as dev (default 0.02)")
    parser.add_argument("--test-fraction", type=float, default=0.02, help="share held out as test (default 0.02)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dev/test hold-out")


def holds_corpus(folder: Path) -> bool:
    return (folder / "metadata.csv").is_file() or (folder / "wavs").is_dir()


def prepare_ljspeech(out_dir: Path, root: Path = Path("downloads"), download: bool = False,
                     dev_fraction: float = 0.02, test_fraction: float = 0.02, seed: int = 0) -> dict[str, CutSet]:
    from lhotse import SupervisionSet
    from lhotse.recipes import ljspeech as recipe
    from lhotse.utils import fastcopy

    out_dir, root = Path(out_dir), Path(root)
    done = {s: load_prepared(out_dir, s) for s in SPLITS}
    if all(c is not None for c in done.values()):
        return done
    place = locate(root, "LJSpeech-1.1", holds_corpus)
    corpus = place.corpus
    command = public.command("ljspeech", root, out_dir, "--download")
    if download:
        target = download_target(place, "LJSpeech-1.1", lambda r: public.command("ljspeech", r, out_dir, "--download"))
        fetch_verified(Archive(URL, corpus / ".completed"), target, command,
                       unpack=lambda: recipe.download_ljspeech(target))
    if not holds_corpus(corpus):
        raise UserError(f"LJ Speech not found: no metadata.csv and wavs/ in {root} or {root / 'LJSpeech-1.1'}; "
                        f"download it (2.6 GB) with: {command}")
    require_dir(corpus / "wavs", "LJ Speech's wavs folder", download_hint(command))
    if not (corpus / "metadata.csv").is_file():  # lhotse would only assert
        raise UserError(f"LJ Speech's metadata.csv not found: expected the file {corpus / 'metadata.csv'}; "
                        f"{download_hint(command)}")
    manifests = recipe.prepare_ljspeech(corpus)
    recordings = manifests["recordings"]
    # the normalised column spells numbers and abbreviations out, which is what is spoken
    sups = SupervisionSet.from_segments(
        fastcopy(s, text=(s.custom or {}).get("normalized_text") or s.text) for s in manifests["supervisions"]
    )
    ids = sorted(recordings.ids)
    random.Random(seed).shuffle(ids)
    n_dev = n_test = 0
    if len(ids) >= 3:  # a smaller folder is all training
        n_dev, n_test = max(1, round(dev_fraction * len(ids))), max(1, round(test_fraction * len(ids)))
    chosen = {"dev": ids[:n_dev], "test": ids[n_dev : n_dev + n_test], "train": ids[n_dev + n_test :]}
    result = {}
    for split in SPLITS:
        keep = set(chosen[split])
        if keep:
            result[split] = write_split(out_dir, split, recordings.filter(lambda r: r.id in keep),
                                        sups.filter(lambda s: s.recording_id in keep))
    return result
