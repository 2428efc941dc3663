"""What the public corpora share: verified downloads, a clear error for a missing folder, and writing manifests.

Each corpus module (librispeech, commonvoice, tedlium, ljspeech, yesno) finds its folder with `locate` (--root is
the corpus folder itself, as lhotse's prepare_x takes it, or the folder holding it, which --download writes into),
reads it with lhotse's recipe and hands the result to `write_split`, which normalises the text and writes, under
the output folder:
    {split}_recordings.jsonl.gz  {split}_supervisions.jsonl.gz  {split}_cuts.jsonl.gz
(`asr prepare` then prints each split's one-line summary).

Downloads go through lhotse: `lhotse.utils.resumable_download` fetches the archive (resuming a partial file),
`verify_archive` checks it against KNOWN_CHECKSUMS before anything is unpacked, then the recipe's `download_x()`
unpacks it (its own fetch finds the file complete) and marks the folder `.completed` (FSDD, which lhotse has no
recipe for, unpacks with `unpack_tar`).
lhotse is imported inside the functions: `asr --help` imports these modules and lhotse takes ~2 s.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from asr.errors import UserError, brief

if TYPE_CHECKING:
    from lhotse import CutSet, RecordingSet, SupervisionSet

log = logging.getLogger(__name__)

# Archive file name -> (algorithm, digest), as published with the corpus (md5) or pinned by torchaudio (sha256).
KNOWN_CHECKSUMS: dict[str, tuple[str, str]] = {
    # https://www.openslr.org/resources/12/md5sum.txt
    "dev-clean.tar.gz": ("md5", "42e2234ba48799c1f50f24a7926300a1"),
    "dev-other.tar.gz": ("md5", "c8d0bcc9cca99d4f8b62fcc847357931"),
    "test-clean.tar.gz": ("md5", "32fa31d27d2e1cad72775fee3f4849a9"),
    "test-other.tar.gz": ("md5", "fb5a50374b501bb3bac4815ee91d3135"),
    "train-clean-100.tar.gz": ("md5", "2a93770f6d5c6c964bc36631d331a522"),
    "train-clean-360.tar.gz": ("md5", "c0e676e450a7ff2f54aeade5171606fa"),
    "train-other-500.tar.gz": ("md5", "d1a0fd59409feb2c614ce4d30c387708"),
    # https://www.openslr.org/resources/31/md5sum.txt (Mini LibriSpeech)
    "dev-clean-2.tar.gz": ("md5", "6d7ab67ac6a1d2c993d050e16d61080d"),
    "train-clean-5.tar.gz": ("md5", "5df7d4e78065366204ca6845bb08f490"),
    # torchaudio.datasets pins these (the corpora publish no list)
    # OpenSLR 11 (LibriSpeech's LM resources): the md5s two independent recipes pin (pytorch-database-prep's
    # librispeech.py; the LM text's also in an icefall-style download script), whose audio md5s match OpenSLR 12's
    "3-gram.arpa.gz": ("md5", "74cbb837e582378c26c602e1c8cbcb9c"),
    "3-gram.pruned.1e-7.arpa.gz": ("md5", "9a0f1325bcaf3a0f7b7be4be10823c2a"),
    "3-gram.pruned.3e-7.arpa.gz": ("md5", "8f67ec741827742eee05799ab7605b50"),
    "4-gram.arpa.gz": ("md5", "6abdcd5b055bd482e4f9defe91d40408"),
    "librispeech-lm-norm.txt.gz": ("md5", "c83c64c726a1aedfe65f80aa311de402"),
    "librispeech-vocab.txt": ("md5", "bf3cc7a50112831ed8b0afa40cae96a5"),
    "librispeech-lexicon.txt": ("md5", "28f72663f6bfed7cd346283c064c315b"),
    "waves_yesno.tar.gz": ("sha256", "c3f49e0cca421f96b75b41640749167b52118f232498667ca7a5f9416aef8e73"),
    "LJSpeech-1.1.tar.bz2": ("sha256", "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"),
    "TEDLIUM_release-3.tgz": ("sha256", "ad1e454d14d1ad550bc2564c462d87c7a7ec83d4dc2b9210f22ab4973b9eccdb"),
    # FSDD's GitHub tag archive, 11,975,353 bytes: tensorflow-datasets pins it
    # (tensorflow_datasets/audio/spoken_digit/checksums.tsv); v1.0.10's (a sixth speaker) no library pins
    "free-spoken-digit-dataset-1.0.9.tar.gz": (
        "sha256", "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0"),
}


@dataclass(frozen=True)
class Archive:
    url: str  # the URL the recipe's download_x() fetches, so both land on the same file
    done: Path  # the recipe's `.completed` marker in the unpacked folder
    file: str = ""  # the file's name when the URL's last part is not it (GitHub's tag archives: v1.0.9.tar.gz)

    @property
    def name(self) -> str:
        return self.file or self.url.rsplit("/", 1)[-1]


def fetch_verified(archive: Archive, root: Path, command: str, unpack: Callable[[], object]) -> None:
    """Fetch `archive` into `root` (resuming), verify it, then `unpack()` (the recipe's download_x).

    Skipped when the recipe already marked the unpacked folder complete. `command` reruns the download.
    """
    from lhotse.utils import resumable_download

    if archive.done.is_file():
        log.info("%s is already unpacked (%s)", archive.name, archive.done)
        return
    root.mkdir(parents=True, exist_ok=True)
    path = root / archive.name
    try:
        resumable_download(archive.url, filename=path)
    except OSError as e:  # urllib's errors are OSErrors
        raise UserError(f"download of {archive.url} failed ({brief(e)}); run `{command}` again to resume it") from e
    verify_archive(path, command)
    unpack()


def verify_archive(path: Path, command: str) -> None:
    """Raise UserError when `path`'s checksum differs from KNOWN_CHECKSUMS; archives not listed pass."""
    known = KNOWN_CHECKSUMS.get(path.name)
    if known is None:
        log.warning("no known checksum for %s; not verified", path.name)
        return
    algo, expected = known
    got = file_digest(path, algo)
    if got != expected:
        raise UserError(f"{path} is corrupt or incomplete ({algo} {got}, expected {expected}); "
                        f"delete it and run `{command}` again")


def unpack_tar(archive: Path, corpus: Path) -> None:
    """Extract `archive`, whose top folder is named `corpus.name`, into `corpus`'s parent and mark it `.completed`.

    It unpacks into a `.partial` folder first, so an interrupted unpack never leaves a corpus folder that looks whole.
    """
    import shutil
    import tarfile

    partial = corpus.with_name(corpus.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(partial, filter="data")
    unpacked = partial / corpus.name
    if not unpacked.is_dir():
        raise UserError(f"{archive} does not unpack to {corpus.name}/; delete it and download it again")
    (unpacked / ".completed").touch()
    unpacked.replace(corpus)
    shutil.rmtree(partial)


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"{algo} {path.name}", leave=False) as bar:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


@dataclass(frozen=True)
class Place:
    """Where a corpus is, given the --root a user typed."""
    corpus: Path  # the folder lhotse's prepare_x reads: LibriSpeech/, LJSpeech-1.1/, waves_yesno/, ...
    target: Path | None  # the folder the recipe's download_x unpacks into to fill `corpus`; None: it cannot


def locate(root: Path, name: str, holds: Callable[[Path], bool]) -> Place:
    """`root`/`name` when that holds the corpus (what --download leaves), else `root` itself when it holds the corpus
    or is called `name` (the folder the archive unpacks to), else `root`/`name`, to be downloaded."""
    nested = root / name
    if holds(nested):
        return Place(nested, root)
    if root.name == name:
        return Place(root, root.parent)
    if holds(root):  # a renamed copy: readable, but download_x would unpack next to it
        return Place(root, None)
    return Place(nested, root)


def shared_copy(env: str, name: str, holds: Callable[[Path], bool]) -> Path | None:
    """$`env`, else `../shared/data/<name>` next to the repository or the current folder when `holds` it, else None:
    where a corpus lent to this machine lies (read in place, never copied)."""
    import os

    if os.environ.get(env):
        return Path(os.environ[env])
    repo = Path(__file__).resolve().parents[2]
    for base in (repo, Path.cwd()):
        candidate = base.parent / "shared" / "data" / name
        if holds(candidate):
            return candidate
    return None


def download_target(place: Place, name: str, rerun: Callable[[Path], str]) -> Path:
    """The folder to download into; `rerun(root)` is the command to suggest for another --root."""
    if place.target is None:
        renamed = place.corpus.parent / name
        raise UserError(f"--download unpacks into a folder named {name}, not {place.corpus.name}; "
                        f"rename {place.corpus} to {renamed} and run: {rerun(renamed)}")
    return place.target


def command(corpus: str, root: Path, out_dir: Path, *options: str) -> str:
    """The `asr prepare` line that error messages suggest, quoted for a shell."""
    return shlex.join(["asr", "prepare", corpus, "--root", str(root), *options, "--out", str(out_dir)])


def say_found(corpus: str, found: Sequence[str], where: Path, option: str) -> None:
    """The one line printed when `prepare` chose what to prepare itself (neither `option` nor --download given)."""
    print(f"{corpus}: preparing {', '.join(found)}, found in {where} (choose with {option})")


def require_dir(path: Path, what: str, hint: str) -> Path:
    """The folder a corpus needs, or a UserError naming it and how to get it (`hint`: a command or steps)."""
    if not path.is_dir():
        raise UserError(f"{what} not found: expected the folder {path}; {hint}")
    return path


def download_hint(command: str) -> str:
    return f"download it with: {command}"


def load_prepared(out_dir: Path, split: str) -> CutSet | None:
    """`split`'s cuts when an earlier run wrote them (preparation is idempotent: delete the files to redo it)."""
    from asr.corpora.summary import load_split, manifest_paths

    cuts = load_split(out_dir, split)
    if cuts is not None:
        print(f"{split}: {manifest_paths(out_dir, split)['cuts']} exists; kept (delete it to prepare the split again)")
    return cuts


def write_split(out_dir: Path, split: str, recordings: RecordingSet, supervisions: SupervisionSet) -> CutSet:
    """Normalise the text, drop empty transcripts, write the three manifests of `split`; return its cuts."""
    from lhotse import CutSet, SupervisionSet, fix_manifests, validate_recordings_and_supervisions

    from asr.corpora.summary import write_manifests
    from asr.text import normalise_text

    sups = [s.transform_text(normalise_text) for s in supervisions]
    kept = [s for s in sups if s.text]
    if len(kept) < len(sups):
        log.warning("%s: dropped %d utterances whose text is empty after normalisation", split, len(sups) - len(kept))
    recordings, supervisions = fix_manifests(recordings, SupervisionSet.from_segments(kept))
    validate_recordings_and_supervisions(recordings, supervisions)
    # one cut per supervision: a long recording (a TED talk) becomes one cut per segment
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
    return write_manifests(out_dir, split, cuts, recordings, supervisions)
