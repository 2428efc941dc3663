"""TED-LIUM release 3 (openslr.org/51), legacy distribution, through lhotse's recipe.

Usage:
    asr prepare tedlium --root downloads --download --out data/tedlium       # 51 GB archive
    asr prepare tedlium --root /corpora/TEDLIUM_release-3 --splits dev,test --out data/tedlium

Layout: TEDLIUM_release-3/legacy/{train,dev,test}/sph/{talk}.sph + .../stm/{talk}.stm; --root is that
TEDLIUM_release-3 folder (what lhotse's prepare_tedlium takes) or the folder holding it (where --download puts it).
Without --splits or --download, the splits found there are prepared (and named on one line).
Each STM segment becomes one cut (talks are long recordings). Text: lhotse's Kaldi-style clean-up (drops <unk> and
noise tags, joins "they 're" into "they're"), then asr.text.normalise_text. The .sph files are 16-bit PCM, which
soundfile reads when lhotse's sph2pipe is not installed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import public
from asr.corpora.public import (Archive, download_hint, download_target, fetch_verified, load_prepared, locate,
                                require_dir, say_found, write_split)
from asr.errors import UserError, brief

if TYPE_CHECKING:
    from lhotse import CutSet

URL = "http://www.openslr.org/resources/51/TEDLIUM_release-3.tgz"  # what lhotse's download_tedlium fetches
SPLITS = ("train", "dev", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_tedlium`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"),
                        help="the TEDLIUM_release-3 folder, or the folder holding (or to hold) it (default: downloads)")
    parser.add_argument("--splits", default=None, help="comma-separated subset of train,dev,test (default: those "
                        "under --root; with --download, all three)")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify the archive")
    parser.add_argument("--num-jobs", type=int, default=4, help="threads reading audio headers")


def split_dirs(corpus: Path, split: str) -> tuple[Path, Path]:
    return corpus / "legacy" / split / "sph", corpus / "legacy" / split / "stm"


def holds_splits(folder: Path) -> bool:
    return (folder / "legacy").is_dir()


def prepare_tedlium(out_dir: Path, root: Path = Path("downloads"), splits: str | Sequence[str] | None = None,
                    download: bool = False, num_jobs: int = 4) -> dict[str, CutSet]:
    """Manifests of each split under `out_dir`, from `root` (TEDLIUM_release-3 or its parent).

    `splits` None: with `download`, all three; without, those found (an error when there is none).
    """
    from lhotse.recipes import tedlium as recipe

    from asr.data.manifests import configure_audio_backend

    out_dir, root = Path(out_dir), Path(root)
    place = locate(root, "TEDLIUM_release-3", holds_splits)
    corpus = place.corpus
    command = public.command("tedlium", root, out_dir, "--download")
    if splits is None and not download:
        splits = [s for s in SPLITS if all(d.is_dir() for d in split_dirs(corpus, s))]
        if not splits:
            raise UserError(f"TED-LIUM 3 not found: no legacy/{{train,dev,test}}/{{sph,stm}} folders in {root} or "
                            f"{root / 'TEDLIUM_release-3'}; download it (51 GB) with: {command}")
        say_found("tedlium", splits, corpus, "--splits")
    splits = SPLITS if splits is None else splits
    splits = tuple(s.strip() for s in splits.split(",") if s.strip()) if isinstance(splits, str) else tuple(splits)
    if not splits or set(splits) - set(SPLITS):
        raise UserError(f"unknown TED-LIUM split(s) in {','.join(splits)!r}; choose from {', '.join(SPLITS)}, "
                        f"e.g. {public.command('tedlium', root, out_dir, '--splits', 'dev,test')}")
    target = download_target(place, "TEDLIUM_release-3",
                             lambda r: public.command("tedlium", r, out_dir, "--download")) if download else root
    configure_audio_backend()
    result = {}
    for split in splits:
        if (cuts := load_prepared(out_dir, split)) is not None:
            result[split] = cuts
            continue
        if download:
            fetch_verified(Archive(URL, corpus / ".completed"), target, command,
                           unpack=lambda: recipe.download_tedlium(target))
        for sub in split_dirs(corpus, split):
            require_dir(sub, f"TED-LIUM 3 {split} {sub.name} files", download_hint(command))
        try:
            manifests = recipe.prepare_tedlium(corpus, dataset_parts=[split], num_jobs=num_jobs,
                                               normalize_text="kaldi")[split]
        except AssertionError as e:  # lhotse checks that every talk has both an .sph and an .stm
            raise UserError(f"{corpus / 'legacy' / split}: {brief(e)}") from None
        result[split] = write_split(out_dir, split, manifests["recordings"], manifests["supervisions"])
    return result
