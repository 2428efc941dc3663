"""LibriSpeech (openslr.org/12) and Mini LibriSpeech (openslr.org/31) through lhotse's recipe.

Usage:
    asr prepare librispeech --root downloads --download --out data/mini   # dev-clean-2 + train-clean-5 (~5 h)
    asr prepare librispeech --root downloads --parts 100 --download --out data/librispeech
    asr prepare librispeech --root /corpora/LibriSpeech --out data/ls     # every part unpacked there, said which

Layout: LibriSpeech/{part}/{speaker}/{chapter}/{speaker}-{chapter}-{utt}.flac + {speaker}-{chapter}.trans.txt;
--root is that LibriSpeech folder (what lhotse's prepare_librispeech takes) or the folder holding it (where
--download puts it). Without --parts or --download, the parts found there are prepared (and named on one line).
Each part becomes a split named after it: train-clean-100_cuts.jsonl.gz, dev-clean_cuts.jsonl.gz, ...
Mini LibriSpeech also gets `train` and `dev` splits (what recipes/mini_librispeech reads): dev is dev-clean-2 when
it is there, else four speakers of train-clean-5 (--dev-speakers, default 1970 F, 4640 F, 2136 M, 3664 M: 159
utterances, 0.55 h) held out of train, so dev is always speakers never heard in training.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import public
from asr.corpora.public import Archive, download_target, fetch_verified, load_prepared, locate, say_found, write_split
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
# train-clean-5 speakers held out as dev when dev-clean-2 is absent: two women, two men (SPEAKERS.TXT) of middling
# size, 10% of its utterances
MINI_DEV_SPEAKERS = ("1970", "4640", "2136", "3664")
BASE_URL = "http://www.openslr.org/resources"  # lhotse's default; mini parts are under /31, the rest under /12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_librispeech`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=Path("downloads"),
                        help="the LibriSpeech folder, or the folder holding (or to hold) it (default: downloads)")
    parser.add_argument("--parts", default=None, help="mini (dev-clean-2, train-clean-5), 100 (train-clean-100 "
                        "+ dev/test), 960 (all seven), or part names, comma-separated (default: the parts under "
                        "--root; with --download, mini)")
    parser.add_argument("--download", action="store_true", help="download (resuming) and verify missing parts")
    parser.add_argument("--num-jobs", type=int, default=4, help="threads reading audio headers")
    parser.add_argument("--dev-speakers", default=",".join(MINI_DEV_SPEAKERS),
                        help="train-clean-5 speakers held out as the dev split when dev-clean-2 is absent "
                             "(comma-separated; default %(default)s)")


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


def holds_parts(folder: Path) -> bool:
    return any((folder / part).is_dir() for part in MINI + FULL)


def prepare_librispeech(out_dir: Path, root: Path = Path("downloads"), parts: str | Sequence[str] | None = None,
                        download: bool = False, num_jobs: int = 4,
                        dev_speakers: str | Sequence[str] = MINI_DEV_SPEAKERS) -> dict[str, CutSet]:
    """Manifests of each part under `out_dir`, from `root` (the LibriSpeech folder or its parent).

    `parts` None: with `download`, mini; without, every part found (an error when there is none).
    """
    from lhotse.recipes import librispeech as recipe

    from asr.corpora.summary import manifest_paths
    from asr.data.manifests import configure_audio_backend

    out_dir, root = Path(out_dir), Path(root)
    place = locate(root, "LibriSpeech", holds_parts)
    corpus = place.corpus

    def rerun(at: Path, which: Sequence[str], *more: str) -> str:
        return public.command("librispeech", at, out_dir, "--parts", ",".join(which), *more)

    if parts is None and not download:
        parts = [part for part in MINI + FULL if (corpus / part).is_dir()]
        if not parts:
            raise UserError(f"no LibriSpeech part found in {root} or {root / 'LibriSpeech'} (looked for "
                            f"{', '.join(MINI + FULL)}); download Mini LibriSpeech (5 h) with: "
                            f"{rerun(root, ['mini'], '--download')}")
        say_found("librispeech", parts, corpus, "--parts")
    parts = parse_parts("mini" if parts is None else parts)
    command = rerun(root, parts, "--download")
    target = download_target(place, "LibriSpeech", lambda r: rerun(r, parts, "--download")) if download else root
    # every missing part in one message, before hours of work on the others (prepared ones need no folder)
    missing = [] if download else [corpus / part for part in parts if not (corpus / part).is_dir()
                                   and not manifest_paths(out_dir, part)["cuts"].is_file()]
    if missing:
        raise UserError(f"LibriSpeech part(s) {', '.join(p.name for p in missing)} not found: expected "
                        f"{', '.join(map(str, missing))}; download them with: "
                        f"{rerun(root, [p.name for p in missing], '--download')}")
    configure_audio_backend()
    result = {}
    for part in parts:
        if (cuts := load_prepared(out_dir, part)) is not None:
            result[part] = cuts
            continue
        if download:
            url = f"{BASE_URL}/{31 if part in MINI else 12}/{part}.tar.gz"
            fetch_verified(Archive(url, corpus / part / ".completed"), target, command,
                           unpack=lambda part=part: recipe.download_librispeech(target, dataset_parts=[part]))
        manifests = recipe.prepare_librispeech(corpus, dataset_parts=[part], num_jobs=num_jobs)[part]
        if not len(manifests["recordings"]):
            raise UserError(f"{corpus / part} holds no .flac file listed in a .trans.txt; is the download complete? "
                            f"Delete it and run: {rerun(root, [part], '--download')}")
        result[part] = write_split(out_dir, part, manifests["recordings"], manifests["supervisions"])
    if "train-clean-5" in result:
        result.update(mini_splits(out_dir, result["train-clean-5"], result.get("dev-clean-2"), dev_speakers))
    return result


def mini_splits(out_dir: Path, train5: CutSet, dev2: CutSet | None,
                dev_speakers: str | Sequence[str]) -> dict[str, CutSet]:
    """Mini LibriSpeech's `train` and `dev` splits: dev-clean-2 when prepared, else `dev_speakers` of train-clean-5
    (then left out of train). Rewritten each run, so dev-clean-2 takes over as soon as it is there."""
    from asr.corpora.summary import write_manifests

    if dev2 is not None:
        print("mini librispeech: dev = dev-clean-2, train = all of train-clean-5")
        return {"train": write_manifests(out_dir, "train", train5), "dev": write_manifests(out_dir, "dev", dev2)}
    held = {s.strip() for s in (dev_speakers.split(",") if isinstance(dev_speakers, str) else dev_speakers)}
    present = {c.supervisions[0].speaker for c in train5}
    if not held or not held <= present:
        raise UserError(f"--dev-speakers {', '.join(sorted(held - present)) or '(none)'} not in train-clean-5; "
                        f"choose from {', '.join(sorted(present, key=int))}")
    dev = train5.filter(lambda c: c.supervisions[0].speaker in held).to_eager()
    train = train5.filter(lambda c: c.supervisions[0].speaker not in held).to_eager()
    print(f"mini librispeech: dev-clean-2 absent; dev = train-clean-5 speakers {', '.join(sorted(held))} "
          f"({len(dev)} utterances), held out of train ({len(train)})")
    return {"train": write_manifests(out_dir, "train", train), "dev": write_manifests(out_dir, "dev", dev)}
