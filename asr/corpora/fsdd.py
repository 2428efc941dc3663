"""The Free Spoken Digit Dataset: real people saying one digit each, referenced in place as lhotse manifests.

Usage:
    asr prepare fsdd --out data/fsdd                                    # customary split, ../shared/data/fsdd
    asr prepare fsdd --out data/fsdd-speaker --split speaker --test-speaker jackson
    asr prepare fsdd --root /path/to/free-spoken-digit-dataset --out data/fsdd
    asr prepare fsdd --root downloads --download --out data/fsdd        # fetch the v1.0.9 archive (12 MB), verified

    from asr.corpora.fsdd import prepare_fsdd
    cuts = prepare_fsdd(None, Path("data/fsdd"))                        # {"train": CutSet, "dev": ..., "test": ...}

Files `recordings/{digit}_{speaker}_{take}.wav` are 8 kHz; the manifests say so (resample when loading, e.g.
`cuts.resample(16000)`). Splits:
- customary: takes 0-4 test (the dataset's own convention), takes 5-9 dev, takes 10-49 train;
- speaker: one speaker is all of test; the others' takes 0-4 are dev and takes 5-49 train.
The dataset is CC BY-SA 4.0: ATTRIBUTION.md in the output folder says where it comes from.
--download fetches the v1.0.9 tag's archive (five speakers, 2,500 takes; ../shared/data/fsdd holds four of them),
checks its sha256 and unpacks it to DIR/free-spoken-digit-dataset-1.0.9/; `asr demo` does so into downloads/
when no FSDD is found.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from asr.corpora import public, summary
from asr.corpora.public import Archive, fetch_verified, locate, unpack_tar
from asr.errors import UserError, brief

if TYPE_CHECKING:
    from lhotse import CutSet

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEST_TAKES = range(0, 5)
DEV_TAKES = range(5, 10)  # customary split only: carved from the training takes
SPLIT_KINDS = ("customary", "speaker")
DEFAULT_TEST_SPEAKER = "jackson"
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")

ATTRIBUTION = """\
# Attribution

These manifests describe recordings of the Free Spoken Digit Dataset (FSDD):
Zohar Jackson et al., "Free Spoken Digit Dataset", https://github.com/Jakobovski/free-spoken-digit-dataset,
DOI 10.5281/zenodo.1342401. License: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0),
https://creativecommons.org/licenses/by-sa/4.0/

The audio is used unchanged from {root}; the manifests add the digit word as text and a train/dev/test split.
"""


@dataclass(frozen=True)
class Take:
    path: Path
    digit: int
    speaker: str
    take: int


FSDD_ENV = "ASR_FSDD"  # an FSDD folder (holding recordings/) to use when --root is not given
# The newest tag whose archive has a published checksum (public.KNOWN_CHECKSUMS); GitHub names the file FOLDER.tar.gz
URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.9.tar.gz"
FOLDER = "free-spoken-digit-dataset-1.0.9"  # what the archive unpacks to
DOWNLOADS = Path("downloads")  # where --download (without --root) and `asr demo` put it


def default_root() -> Path | None:
    """$ASR_FSDD, else `../shared/data/fsdd` next to the repository or the current directory, if it is there."""
    return public.shared_copy(FSDD_ENV, "fsdd", lambda folder: (folder / "recordings").is_dir())


def holds_recordings(folder: Path) -> bool:
    return (folder / "recordings").is_dir()


def download_fsdd(root: Path, command: str) -> Path:
    """The FSDD folder in `root` (or `root` itself) holding recordings/; when there is none, the archive is fetched
    into `root` (resuming), verified and unpacked to `root`/FOLDER. `command` reruns the download."""
    place = locate(root, FOLDER, holds_recordings)
    if place.target is None or holds_recordings(place.corpus):
        return place.corpus
    fetch_verified(Archive(URL, place.corpus / ".completed", FOLDER + ".tar.gz"), place.target, command,
                   unpack=lambda: unpack_tar(place.target / (FOLDER + ".tar.gz"), place.corpus))
    return place.corpus


def found_or_downloaded(downloads: Path, out_dir: Path) -> Path:
    """`default_root()`, else FSDD downloaded (once) into `downloads`: what `asr demo` reads without --fsdd."""
    root = default_root()
    if root is not None:
        return root
    print(f"FSDD is neither in ${FSDD_ENV} nor in ../shared/data/fsdd: reading it from {downloads / FOLDER} "
          "(downloaded the first time)", flush=True)
    return download_fsdd(downloads, public.command("fsdd", downloads, out_dir, "--download"))


def find_takes(root: Path) -> list[Take]:
    recordings = root / "recordings"
    if not recordings.is_dir():
        raise UserError(f"no FSDD recordings at {recordings}; pass --root pointing to the folder that holds "
                        "recordings/ (a clone of https://github.com/Jakobovski/free-spoken-digit-dataset)")
    takes = []
    for path in sorted(recordings.glob("*.wav")):
        m = _NAME.match(path.stem)
        if m:  # other names are not FSDD recordings; skipping them is what the dataset's own tools do
            takes.append(Take(path.resolve(), int(m.group(1)), m.group(2), int(m.group(3))))
    if not takes:
        raise UserError(f"{recordings} holds no {{digit}}_{{speaker}}_{{take}}.wav files; is --root right?")
    return takes


def split_of(take: Take, split: str, test_speaker: str) -> str:
    if split == "customary":
        return "test" if take.take in TEST_TAKES else "dev" if take.take in DEV_TAKES else "train"
    if take.speaker == test_speaker:
        return "test"
    return "dev" if take.take in TEST_TAKES else "train"


def prepare_fsdd(root: Path | None, out_dir: Path, split: str = "customary",
                 test_speaker: str = DEFAULT_TEST_SPEAKER, download: bool = False) -> dict[str, CutSet]:
    """Write train/dev/test manifests of FSDD under `out_dir`; `root=None` looks for ../shared/data/fsdd.
    `download`: fetch the archive into `root` (None: downloads/) unless an FSDD folder is there already.

    A file that cannot be read is skipped with a warning; the others still make the corpus.
    """
    from lhotse import Recording

    if split not in SPLIT_KINDS:
        raise UserError(f"unknown FSDD split {split!r}; use one of {', '.join(SPLIT_KINDS)}")
    if download:
        root = Path(root) if root is not None else DOWNLOADS
        root = download_fsdd(root, public.command("fsdd", root, Path(out_dir), "--download"))
    root = Path(root) if root is not None else default_root()
    if root is None:
        get = public.command("fsdd", DOWNLOADS, Path(out_dir), "--download")
        raise UserError("FSDD not found at ../shared/data/fsdd; set ASR_FSDD, pass --root pointing to the folder "
                        f"that holds recordings/, or download it (12 MB) with: {get}")
    takes = find_takes(root)
    speakers = sorted({t.speaker for t in takes})
    if split == "speaker" and test_speaker not in speakers:
        raise UserError(f"speaker {test_speaker!r} is not in {root}; choose --test-speaker from {', '.join(speakers)}")
    cuts: dict[str, list] = {"train": [], "dev": [], "test": []}
    failed = []
    for take in tqdm(takes, desc="reading FSDD", unit="file", file=sys.stderr):
        try:
            recording = Recording.from_file(take.path, recording_id=take.path.stem)
        except Exception as e:  # a corrupt file must not stop the other 1,999
            failed.append(f"{take.path.name}: {brief(e)}")
            continue
        custom = {"digit": take.digit, "take": take.take}
        cuts[split_of(take, split, test_speaker)].append(
            summary.utterance_cut(recording, DIGIT_WORDS[take.digit], take.speaker, custom))
    if failed:
        print(f"warning: skipped {len(failed)} unreadable files: {'; '.join(failed[:3])}", file=sys.stderr)
    out_dir = Path(out_dir)
    result = summary.save_splits(out_dir, cuts)
    (out_dir / "ATTRIBUTION.md").write_text(attribution(root))
    return result


def attribution(root: Path) -> str:
    """The dataset's credit and licence, followed by the README found with the recordings (if any) verbatim."""
    text = ATTRIBUTION.format(root=root.resolve())
    readme = root / "README.md"
    if readme.is_file():
        text += f"\n## {readme.resolve()}\n\n" + readme.read_text(errors="replace")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_fsdd`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=None,
                        help="FSDD folder holding recordings/, or with --download the folder to hold it (default: "
                             "$ASR_FSDD, else ../shared/data/fsdd next to the repository or the current folder; with "
                             "--download: downloads)")
    parser.add_argument("--download", action="store_true",
                        help=f"download (resuming) and verify FSDD's archive (12 MB) unless --root holds it: {URL}")
    parser.add_argument("--split", choices=SPLIT_KINDS, default="customary",
                        help="customary: takes 0-4 test, 5-9 dev, rest train; speaker: one speaker is the test set")
    parser.add_argument("--test-speaker", default=DEFAULT_TEST_SPEAKER,
                        help=f"the held-out speaker of --split speaker (default {DEFAULT_TEST_SPEAKER})")
