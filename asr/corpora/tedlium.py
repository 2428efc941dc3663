"""TED-LIUM release 3 (openslr.org/51), legacy distribution, through lhotse's recipe.

Usage:
    asr prepare tedlium --root downloads --download          # 51 GB archive
    asr prepare tedlium --root downloads --out data/tedlium --splits dev,test

Layout under --root: TEDLIUM_release-3/legacy/{train,dev,test}/sph/{talk}.sph + .../stm/{talk}.stm
Each STM segment becomes one cut (talks are long recordings). Text: lhotse's Kaldi-style clean-up (drops <unk> and
noise tags, joins "they 're" into "they're"), then asr.text.normalise_text. The .sph files are 16-bit PCM, which
soundfile reads when lhotse's sph2pipe is not installed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora.public import Archive, download_hint, fetch_verified, load_prepared, require_dir, write_split
from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet

URL = "http://www.openslr.org/resources/51/TEDLIUM_release-3.tgz"  # what lhotse's download_tedlium fetches
SPLITS = ("train", "dev", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_tedlium`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"), help="folder holding TEDLIUM_release-3/")
    parser.add_argument("--splits", default="train,dev,test", help="comma-separated subset of train,dev,test")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify the archive")
    parser.add_argument("--num-jobs", type=int, default=4, help="threads reading audio headers")


def prepare_tedlium(out_dir: Path, root: Path = Path("downloads"), splits: str | Sequence[str] = SPLITS,
                    download: bool = False, num_jobs: int = 4) -> dict[str, CutSet]:
    from lhotse.recipes import tedlium as recipe

    from asr.data.manifests import configure_audio_backend

    out_dir, root = Path(out_dir), Path(root)
    splits = tuple(s.strip() for s in splits.split(",") if s.strip()) if isinstance(splits, str) else tuple(splits)
    if not splits or set(splits) - set(SPLITS):
        raise UserError(f"unknown TED-LIUM split(s) in {','.join(splits)!r}; choose from {', '.join(SPLITS)}")
    configure_audio_backend()
    corpus = root / "TEDLIUM_release-3"
    command = f"asr prepare tedlium --root {root} --download"
    result = {}
    for split in splits:
        if (cuts := load_prepared(out_dir, split)) is not None:
            result[split] = cuts
            continue
        if download:
            fetch_verified(Archive(URL, corpus / ".completed"), root, command,
                           unpack=lambda: recipe.download_tedlium(root))
        for sub in ("sph", "stm"):
            require_dir(corpus / "legacy" / split / sub, f"TED-LIUM 3 {split} {sub} files", download_hint(command))
        try:
            manifests = recipe.prepare_tedlium(corpus, dataset_parts=[split], num_jobs=num_jobs,
                                               normalize_text="kaldi")[split]
        except AssertionError as e:  # lhotse checks that every talk has both an .sph and an .stm
            raise UserError(f"{corpus / 'legacy' / split}: {e}") from e
        result[split] = write_split(out_dir, split, manifests["recordings"], manifests["supervisions"])
    return result
