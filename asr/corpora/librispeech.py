"""LibriSpeech (openslr.org/12) and Mini LibriSpeech (openslr.org/31) through lhotse's recipe.

Usage:
    asr prepare librispeech --root downloads --parts mini --download     # dev-clean-2 + train-clean-5 (~5 h)
    asr prepare librispeech --root downloads --parts 100 --out data/librispeech
    asr prepare librispeech --root /corpora --parts dev-clean,test-clean  # already unpacked under /corpora

Layout under --root:
    LibriSpeech/{part}/{speaker}/{chapter}/{speaker}-{chapter}-{utt}.flac + {speaker}-{chapter}.trans.txt
Each part becomes a split named after it: train-clean-100_cuts.jsonl.gz, dev-clean_cuts.jsonl.gz, ...
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

# lhotse.recipes.librispeech's part names, repeated so `asr --help` need not import lhotse
MINI = ("dev-clean-2", "train-clean-5")
FULL = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500")
PRESETS: dict[str, tuple[str, ...]] = {
    "mini": MINI,
    "100": ("train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other"),
    "960": FULL,
}
BASE_URL = "http://www.openslr.org/resources"  # lhotse's default; mini parts are under /31, the rest under /12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_librispeech`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"), help="folder holding LibriSpeech/")
    parser.add_argument("--parts", default="mini", help="mini (dev-clean-2, train-clean-5), 100 (train-clean-100 "
                        "+ dev/test), 960 (all seven), or part names, comma-separated (default: mini)")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify missing parts")
    parser.add_argument("--num-jobs", type=int, default=4, help="threads reading audio headers")


def parse_parts(parts: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(parts, str):
        if parts in PRESETS:
            return PRESETS[parts]
        parts = [p.strip() for p in parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in MINI + FULL]
    if unknown or not parts:
        raise UserError(f"unknown LibriSpeech part(s) {', '.join(unknown) or repr(parts)}; "
                        f"use mini, 100, 960 or any of {', '.join(MINI + FULL)}")
    return tuple(parts)


def prepare_librispeech(out_dir: Path, root: Path = Path("downloads"), parts: str | Sequence[str] = "mini",
                        download: bool = False, num_jobs: int = 4) -> dict[str, CutSet]:
    """Manifests of each part under `out_dir`, from `root`/LibriSpeech (downloaded first when `download`)."""
    from lhotse.recipes import librispeech as recipe

    from asr.data.manifests import configure_audio_backend

    out_dir, root, parts = Path(out_dir), Path(root), parse_parts(parts)
    configure_audio_backend()
    corpus = root / "LibriSpeech"
    command = f"asr prepare librispeech --root {root} --parts {','.join(parts)} --download"
    result = {}
    for part in parts:
        if (cuts := load_prepared(out_dir, part)) is not None:
            result[part] = cuts
            continue
        if download:
            url = f"{BASE_URL}/{31 if part in MINI else 12}/{part}.tar.gz"
            fetch_verified(Archive(url, corpus / part / ".completed"), root, command,
                           unpack=lambda part=part: recipe.download_librispeech(root, dataset_parts=[part]))
        require_dir(corpus / part, f"LibriSpeech part {part}", download_hint(command))
        manifests = recipe.prepare_librispeech(corpus, dataset_parts=[part], num_jobs=num_jobs)[part]
        if not len(manifests["recordings"]):
            raise UserError(f"{corpus / part} holds no .flac file listed in a .trans.txt; is the download complete?")
        result[part] = write_split(out_dir, part, manifests["recordings"], manifests["supervisions"])
    return result
