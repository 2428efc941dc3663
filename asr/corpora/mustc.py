"""MuST-C (ict.fbk.eu/must-c): English TED talks with their transcripts and translations, through lhotse's recipe.

Usage:
    asr prepare mustc --root /corpora/MUST-C --out data/mustc                    # en-de, the splits found there
    asr prepare mustc --root /corpora/MUST-C/en-fr --target fr --splits dev,test --out data/mustc-fr

No --download: MuST-C is handed out after a registration at https://ict.fbk.eu/must-c/ . Unpack en-{target} as
    en-{target}/data/{train,dev,tst-COMMON,tst-HE}/txt/{split}.{en,<target>,yaml} + .../wav/{talk}.wav
--root is that en-{target} folder or the folder holding it (what lhotse's prepare_must_c takes).
Splits: train -> train, dev -> dev, tst-COMMON -> test, tst-HE -> test-he (--splits takes either name). Without
--splits, the ones found are prepared (and named on one line).
Each yaml segment becomes one cut (talks are long recordings). As for speech translation in lhotse's iwslt22_ta
recipe: supervision.text is the English transcript (asr.text.normalise_text), language "en", and
custom["translated_text"][target] the target line as the corpus has it (case and punctuation kept for BLEU on
detokenised text; surrounding whitespace stripped). Talks are read by the recipe's per-talk parser
(lhotse.recipes.must_c.parse_utterance, ids "{talk}-seg-{i}"): its prepare_must_c returns nothing, needs all four
split folders and always reads them all, so the grouping of yaml lines into talks is done here, as it does it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asr.corpora.public import load_prepared, locate, require_dir, say_found, write_split
from asr.errors import UserError, brief

if TYPE_CHECKING:
    from lhotse import CutSet, Recording, SupervisionSegment

URL = "https://ict.fbk.eu/must-c/"
# our split name -> MuST-C's folder
SPLITS = {"train": "train", "dev": "dev", "test": "tst-COMMON", "test-he": "tst-HE"}
YAML_KEYS = ("wav", "offset", "duration", "speaker_id")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_mustc`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--root", type=Path, required=True,
                        help=f"the en-<target> folder of MuST-C, or the folder holding it (manual download: {URL})")
    parser.add_argument("--target", default="de", help="the translation language: en-<target> (default: de)")
    parser.add_argument("--splits", default=None, help="comma-separated subset of train,dev,test,test-he "
                        "(or train,dev,tst-COMMON,tst-HE; default: those under --root)")
    parser.add_argument("--num-jobs", type=int, default=4, help="threads reading audio headers")


@dataclass(frozen=True)
class Talk:
    """The yaml segments of one wav, in file order, with their lines of the .en and target files."""
    wav: str
    segments: list[dict[str, Any]]
    english: list[str]
    target: list[str]


def holds_splits(folder: Path) -> bool:
    return (folder / "data").is_dir()


def layout(target: str) -> str:
    return f"en-{target}/data/{{train,dev,tst-COMMON}}/txt/{{split}}.{{en,{target},yaml}} and wav/*.wav"


def not_found(root: Path, target: str) -> UserError:
    return UserError(f"MuST-C en-{target} not found in {root}: expected {layout(target)}; MuST-C has no automatic "
                     f"download: register at {URL}, download and unpack en-{target}, then pass the folder holding "
                     f"en-{target} (or en-{target} itself) as --root")


def corpus_dir(root: Path, target: str) -> Path:
    """The en-{target} folder given --root (that folder or its parent); a UserError when neither holds it."""
    name = f"en-{target}"
    corpus = locate(root, name, holds_splits).corpus
    other = re.fullmatch(r"en-([A-Za-z-]+)", corpus.name)
    if corpus.name != name and other and holds_splits(corpus):
        raise UserError(f"{corpus} holds MuST-C en-{other[1]}, not en-{target}: add --target {other[1]}")
    if not holds_splits(corpus):
        raise not_found(root, target)
    return corpus


def parse_splits(splits: str | Sequence[str] | None, corpus: Path) -> tuple[str, ...]:
    """Our names of the splits asked for (MuST-C's names accepted too), or of those found under `corpus`/data."""
    if splits is None:
        found = tuple(s for s, folder in SPLITS.items() if (corpus / "data" / folder).is_dir())
        if not found:
            raise not_found(corpus, corpus.name.removeprefix("en-"))
        say_found("mustc", found, corpus, "--splits")
        return found
    names = [s.strip() for s in splits.split(",")] if isinstance(splits, str) else list(splits)
    ours = {folder: split for split, folder in SPLITS.items()}
    chosen = tuple(dict.fromkeys(ours.get(s, s) for s in names if s))
    if not chosen or set(chosen) - set(SPLITS):
        raise UserError(f"unknown MuST-C split(s) in {','.join(names)!r}; choose from {', '.join(SPLITS)} "
                        f"(MuST-C's {', '.join(SPLITS.values())})")
    return chosen


def read_lines(path: Path) -> list[str]:
    """One stripped line per segment (newlines only: a text may hold other Unicode line separators)."""
    if not path.is_file():
        raise UserError(f"MuST-C file not found: {path}")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f]


def read_segments(path: Path) -> list[dict[str, Any]]:
    from lhotse.serialization import load_yaml

    if not path.is_file():
        raise UserError(f"MuST-C file not found: {path}")
    segments = load_yaml(path)
    if not isinstance(segments, list) or not all(isinstance(s, dict) and all(k in s for k in YAML_KEYS)
                                                 for s in segments):
        raise UserError(f"{path}: expected a list of {{{', '.join(YAML_KEYS)}, ...}} segments, one per line")
    return segments


def group_talks(segments: list[dict[str, Any]], english: list[str], target: list[str], yaml: Path) -> list[Talk]:
    """The yaml lines grouped by wav, as the recipe groups them (consecutive lines of one wav are one talk)."""
    talks, start = [], 0
    for wav, group in groupby(segments, key=lambda s: s["wav"]):
        group = list(group)
        end = start + len(group)
        talks.append(Talk(wav, group, english[start:end], target[start:end]))
        start = end
    wavs = [t.wav for t in talks]
    if len(set(wavs)) < len(wavs):
        twice = next(w for w in wavs if wavs.count(w) > 1)
        raise UserError(f"{yaml}: the segments of {twice} are not on consecutive lines")
    return talks


def read_split(data: Path, folder: str, target: str) -> tuple[Path, list[Talk]]:
    """The wav folder of one split and its talks; a UserError when a file is missing or the counts differ."""
    split_dir = require_dir(data / folder, f"MuST-C {folder} split", f"expected {layout(target)} (from {URL})")
    txt = require_dir(split_dir / "txt", f"MuST-C {folder} transcripts", f"expected {layout(target)}")
    wav_dir = require_dir(split_dir / "wav", f"MuST-C {folder} audio", f"expected {layout(target)}")
    yaml = txt / f"{folder}.yaml"
    segments = read_segments(yaml)
    english, translated = read_lines(txt / f"{folder}.en"), read_lines(txt / f"{folder}.{target}")
    if not len(segments) == len(english) == len(translated):
        raise UserError(f"{txt}: {len(segments)} segments in {folder}.yaml but {len(english)} lines in {folder}.en "
                        f"and {len(translated)} in {folder}.{target}; they must match line for line")
    talks = group_talks(segments, english, translated, yaml)
    missing = [t.wav for t in talks if not (wav_dir / t.wav).is_file()]
    if missing:
        raise UserError(f"{len(missing)} wav file(s) named in {yaml} are not in {wav_dir}, e.g. {missing[0]}")
    return wav_dir, talks


def attach_source(talk: Talk, recording: Recording, sups: list[SupervisionSegment],
                  target: str) -> list[SupervisionSegment]:
    """lhotse's segments of one talk with the English transcript as text and the translation moved into custom,
    each checked against the yaml line it came from."""
    from lhotse.utils import fastcopy

    out = []
    for i, (sup, seg, english, translated) in enumerate(zip(sups, talk.segments, talk.english, talk.target,
                                                            strict=True)):
        if (sup.id != f"{recording.id}-seg-{i}" or abs(sup.start - float(seg["offset"])) > 1e-6
                or sup.text != translated):
            raise UserError(f"lhotse's MuST-C segment {sup.id} does not match line {i + 1} of {talk.wav}'s "
                            f"segments ({seg}); the recipe may have changed")
        out.append(fastcopy(sup, text=english, language="en", custom={"translated_text": {target: sup.text}}))
    return out


def parse_talks(wav_dir: Path, talks: list[Talk], target: str,
                num_jobs: int) -> tuple[list[Recording], list[SupervisionSegment]]:
    """Each talk through the recipe's parser (one Recording, one supervision per yaml line), in threads."""
    from lhotse.parallel import parallel_map
    from lhotse.recipes import must_c as recipe
    from tqdm.auto import tqdm

    groups = [(t.segments, t.target) for t in talks]
    parsed = parallel_map(recipe.parse_utterance, repeat(wav_dir), groups, repeat(target),
                          num_jobs=max(1, num_jobs), threads=True)
    progress = tqdm(parsed, total=len(talks), desc=f"MuST-C {wav_dir.parent.name}", leave=False)
    recordings, sups = [], []
    try:
        for talk, (recording, segments) in zip(talks, progress, strict=True):
            recordings.append(recording)
            sups.extend(attach_source(talk, recording, segments, target))
    except (AssertionError, RuntimeError, OSError) as e:  # an unreadable wav, lhotse's count checks
        raise UserError(f"{wav_dir}: {brief(e)}") from None
    return recordings, sups


def check_target(cuts: CutSet, out_dir: Path, split: str, target: str) -> CutSet:
    """Cuts an earlier run prepared, when they carry `target` translations (not another language's)."""
    first = next(iter(cuts), None)
    sup = first.supervisions[0] if first is not None and first.supervisions else None
    if sup is not None and target not in ((sup.custom or {}).get("translated_text") or {}):
        raise UserError(f"{out_dir} holds a MuST-C {split} split without {target} translations; "
                        f"choose another --out for en-{target}")
    return cuts


def prepare_mustc(out_dir: Path, root: Path, target: str = "de", splits: str | Sequence[str] | None = None,
                  num_jobs: int = 4) -> dict[str, CutSet]:
    """Manifests of each split under `out_dir`, from `root` (en-{target} or the folder holding it).

    `splits`: our names (train, dev, test, test-he) or MuST-C's; None: those found (an error when there is none).
    """
    from lhotse import RecordingSet, SupervisionSet

    from asr.data.manifests import configure_audio_backend

    out_dir, root, target = Path(out_dir), Path(root), target.strip()
    if not re.fullmatch(r"[A-Za-z]+(-[A-Za-z]+)?", target):
        raise UserError(f"--target {target!r} is not a language code (de, fr, zh, ...)")
    corpus = corpus_dir(root, target)
    chosen = parse_splits(splits, corpus)
    configure_audio_backend()
    result = {}
    for split in chosen:
        if (cuts := load_prepared(out_dir, split)) is not None:
            result[split] = check_target(cuts, out_dir, split, target)
            continue
        wav_dir, talks = read_split(corpus / "data", SPLITS[split], target)
        recordings, sups = parse_talks(wav_dir, talks, target, num_jobs)
        result[split] = write_split(out_dir, split, RecordingSet.from_recordings(recordings),
                                    SupervisionSet.from_segments(sups))
    return result
