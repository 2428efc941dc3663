"""CMU AN4 (the census database): 74 training and 10 test speakers, close-talking microphone, NIST SPHERE.

Usage:
    asr prepare an4 --out data/an4                                  # ../shared/data/an4 (or $ASR_AN4)
    asr prepare an4 --root downloads --download --out data/an4      # CMU's an4_sphere.tar.gz (64 MB)
    asr prepare an4 --root /corpora/an4 --out data/an4

    from asr.corpora.an4 import prepare_an4
    cuts = prepare_an4(Path("data/an4"))                           # {"train": CutSet, "dev": ..., "test": ...}

Layout as CMU ships it: an4/etc/an4_{train,test}.{transcription,fileids} and an4/wav/{an4_clstk,an4test_clstk}/
SPEAKER/UTT.sph (16 kHz 16-bit PCM SPHERE, read as it is by libsndfile). --root is that an4 folder or the folder
holding it. Splits: test is CMU's test set (130 utterances, 10 speakers); dev is whole training speakers, the
first in sorted order until it holds --dev-utterances (ESPnet's an4 recipe takes the first 100 training
utterances), so no dev speaker is in train.
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
from asr.corpora.public import Archive, download_target, fetch_verified, locate
from asr.errors import UserError, brief

if TYPE_CHECKING:
    from lhotse import CutSet

URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz"  # what ESPnet's and Kaldi's an4 recipes fetch
AN4_ENV = "ASR_AN4"  # an an4 folder (holding etc/ and wav/) to use when --root is not given
DEV_UTTERANCES = 100
_LINE = re.compile(r"^\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()\s]+)\)\s*$")


@dataclass(frozen=True)
class Utterance:
    id: str  # an251-fash-b
    speaker: str  # fash
    text: str  # as transcribed: "RUBOUT G M E F THREE NINE"
    path: Path


def holds_corpus(folder: Path) -> bool:
    return (folder / "etc" / "an4_train.transcription").is_file()


def default_root() -> Path:
    """$ASR_AN4, else ../shared/data/an4 beside the repository or the current folder when there, else downloads."""
    return public.shared_copy(AN4_ENV, "an4", holds_corpus) or Path("downloads")


def parse_transcription(line: str) -> tuple[str, str] | None:
    """`<s> YES </s> (an251-fash-b)` -> ("an251-fash-b", "YES"); a blank line -> None."""
    if not line.strip():
        return None
    m = _LINE.match(line)
    if m is None:
        raise ValueError(f"not an AN4 transcription line: {line.strip()!r}")
    return m.group(2), m.group(1)


def read_split(corpus: Path, split: str) -> list[Utterance]:
    """The utterances CMU lists for `split` (train or test), in the order of its fileids."""
    etc = corpus / "etc"
    folder = {"train": "an4_clstk", "test": "an4test_clstk"}[split]
    texts: dict[str, str] = {}
    lines = (etc / f"an4_{split}.transcription").read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            parsed = parse_transcription(line)
        except ValueError as e:
            raise UserError(f"{etc / f'an4_{split}.transcription'}:{number}: {e}; is the corpus intact?") from e
        if parsed:
            texts[parsed[0]] = parsed[1]
    fileids = etc / f"an4_{split}.fileids"
    relative = ([ln.strip() for ln in fileids.read_text().splitlines() if ln.strip()] if fileids.is_file()
                else [f"{folder}/{u.split('-')[1]}/{u}" for u in texts])
    utterances = []
    for rel in relative:
        uid = Path(rel).name
        if uid not in texts:
            raise UserError(f"{fileids} lists {uid}, which {etc / f'an4_{split}.transcription'} does not transcribe")
        utterances.append(Utterance(uid, uid.split("-")[1], texts[uid], corpus / "wav" / f"{rel}.sph"))
    return utterances


def dev_speakers(train: list[Utterance], utterances: int = DEV_UTTERANCES) -> set[str]:
    """The first training speakers in sorted order whose utterances reach `utterances` (0: none)."""
    counts: dict[str, int] = {}
    for u in train:
        counts[u.speaker] = counts.get(u.speaker, 0) + 1
    chosen, total = set(), 0
    for speaker in sorted(counts):
        if total >= utterances:
            break
        chosen.add(speaker)
        total += counts[speaker]
    return chosen


def prepare_an4(out_dir: Path, root: Path | None = None, download: bool = False,
                dev_utterances: int = DEV_UTTERANCES) -> dict[str, CutSet]:
    """Write train/dev/test manifests of AN4 under `out_dir` from `root` (None: $ASR_AN4, ../shared/data/an4 or
    downloads). A file that cannot be read is skipped with a warning; the others still make the corpus."""
    import soundfile as sf

    from asr.data.manifests import configure_audio_backend
    from asr.text import normalise_text

    configure_audio_backend()  # lhotse sends .sph to sph2pipe, which pip does not install; libsndfile reads AN4's
    out_dir = Path(out_dir)
    if (done := summary.load_splits(out_dir)) is not None:
        print(f"{out_dir}: AN4 already prepared; kept (delete its manifests to prepare it again)")
        return done
    root = Path(root) if root is not None else default_root()
    place = locate(root, "an4", holds_corpus)
    command = public.command("an4", root, out_dir, "--download")
    if download:
        target = download_target(place, "an4", lambda r: public.command("an4", r, out_dir, "--download"))
        fetch_verified(Archive(URL, place.corpus / ".completed"), target, command,
                       unpack=lambda: public.unpack_tar(target / URL.rsplit("/", 1)[-1], place.corpus))
    if not holds_corpus(place.corpus):
        raise UserError(f"AN4 not found: no etc/an4_train.transcription in {root} or {root / 'an4'}; "
                        f"download it (64 MB) with: {command}")
    train_all = read_split(place.corpus, "train")
    held = dev_speakers(train_all, dev_utterances)
    parts = {"train": [u for u in train_all if u.speaker not in held],
             "dev": [u for u in train_all if u.speaker in held], "test": read_split(place.corpus, "test")}
    cuts: dict[str, list] = {split: [] for split in parts}
    failed = []
    for split, utterances in parts.items():
        for u in tqdm(utterances, desc=f"reading AN4 {split}", unit="file", file=sys.stderr):
            try:
                info = sf.info(str(u.path))
                recording = summary.file_recording(u.id, u.path.resolve(), info.samplerate, info.frames)
            except Exception as e:  # a damaged file must not stop the other thousand
                failed.append(f"{u.path.name}: {brief(e)}")
                continue
            cuts[split].append(summary.utterance_cut(recording, normalise_text(u.text), u.speaker, {}))
    if failed:
        print(f"warning: skipped {len(failed)} unreadable files: {'; '.join(failed[:3])}", file=sys.stderr)
    print(f"an4 dev: speakers {', '.join(sorted(held))} (held out of train)")
    return summary.save_splits(out_dir, cuts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_an4`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, default=None,
                        help="the an4 folder (etc/, wav/) or the folder holding (or to hold) it (default: $ASR_AN4, "
                             "else ../shared/data/an4 when there, else downloads)")
    parser.add_argument("--download", action="store_true", help="download CMU's an4_sphere.tar.gz (64 MB)")
    parser.add_argument("--dev-utterances", type=int, default=DEV_UTTERANCES,
                        help="whole training speakers moved to dev until it holds this many utterances")
