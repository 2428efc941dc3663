"""English sentences (a 1,000+ word grammar, `asr.corpora.sentences`) spoken by synthetic voices.

Usage:
    asr prepare tts-sentences --out data/tts-sentences
    asr prepare tts-sentences --out data/tts-sentences --hours 1 --seed 1 --jobs 2 --lm-sentences 0

    from asr.corpora.tts_sentences import prepare_tts_sentences
    cuts = prepare_tts_sentences(Path("data/tts-sentences"))     # {"train": CutSet, "dev": ..., "test": ...}

The voices and their split are those of tts-digits. No dev or test sentence occurs in training (exact string),
so a model cannot pass the test by remembering whole sentences; words, though, are shared.
`lm_text.txt` beside the manifests holds more sentences of the grammar, none of them in any split: the text
for `asr train-lm` and for an n-gram (recipes/tts/README.md).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import sentences, tts_synth

if TYPE_CHECKING:
    from lhotse import CutSet

DEFAULT_HOURS = 16.0     # what recipes/tts/sentences.yaml trains on: ~5 minutes on 2 idle cores
DEFAULT_LM_SENTENCES = 200_000  # ~1.6 M words of LM text, ~5 s to write
MEAN_SECONDS = 2.67      # measured mean utterance length, turns --hours into a number of utterances


def split_texts(sizes: dict[str, int], seed: int) -> dict[str, list[str]]:
    """Distinct sentences per split, test and dev first, so that training gets none of theirs."""
    rng = random.Random(f"tts-sentences-texts-{seed}")
    seen: set[str] = set()
    out = {}
    for split in ("test", "dev", "train"):
        texts = []
        for _ in range(sizes[split] * 20):  # the grammar has billions of sentences: rejections are rare
            if len(texts) == sizes[split]:
                break
            text = sentences.sentence(rng)
            if text not in seen:
                seen.add(text)
                texts.append(text)
        out[split] = texts
    return {split: out[split] for split in ("train", "dev", "test")}


def shared_texts(a: CutSet, b: CutSet) -> set[str]:
    """Supervision texts that occur in both sets."""
    return ({s.text for c in a for s in c.supervisions} & {s.text for c in b for s in c.supervisions})


def lm_texts(n: int, exclude: set[str], seed: int) -> list[str]:
    """`n` sentences of the grammar, none of them in `exclude` (repeats among them are kept: they are the
    grammar's own frequencies)."""
    rng = random.Random(f"tts-sentences-lm-{seed}")
    out: list[str] = []
    while len(out) < n:
        text = sentences.sentence(rng)
        if text not in exclude:
            out.append(text)
    return out


def write_lm_text(path: Path, cuts: dict[str, CutSet], n: int, seed: int) -> Path:
    """`path` with `n` sentences a line that no split of `cuts` contains; written whole or not at all."""
    exclude = {s.text for split in cuts.values() for c in split for s in c.supervisions}
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{t}\n" for t in lm_texts(n, exclude, seed)))
    tmp.replace(path)
    return path


def prepare_tts_sentences(out_dir: Path, hours: float = DEFAULT_HOURS, seed: int = 0, jobs: int | None = None,
                          lm_sentences: int = DEFAULT_LM_SENTENCES) -> dict[str, CutSet]:
    """Synthesise ~`hours` of sentences under `out_dir` and write train/dev/test manifests, and `lm_sentences`
    other sentences to `out_dir/lm_text.txt` (0: none).

    Raises RuntimeError if a dev or test sentence occurs in training (it cannot, by construction: checked anyway).
    """
    voices = tts_synth.voices_per_split()
    sizes = tts_synth.split_sizes(hours, MEAN_SECONDS, {s: len(v) for s, v in voices.items()})
    utts = tts_synth.plan("tts-sentences", split_texts(sizes, seed), voices, seed)
    cuts = tts_synth.build_corpus("tts-sentences", Path(out_dir), utts, jobs)
    for split in ("dev", "test"):
        if shared := shared_texts(cuts[split], cuts["train"]):
            raise RuntimeError(f"{len(shared)} {split} sentences also occur in train, e.g. {sorted(shared)[0]!r}")
    if lm_sentences > 0:
        write_lm_text(Path(out_dir) / "lm_text.txt", cuts, lm_sentences, seed)
    return cuts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_tts_sentences`'s parameters (the prepare command passes them through)."""
    tts_synth.add_tts_arguments(parser, DEFAULT_HOURS)
    parser.add_argument("--lm-sentences", type=int, default=DEFAULT_LM_SENTENCES,
                        help=f"sentences of LM text (lm_text.txt), none in any split; 0: none "
                             f"(default {DEFAULT_LM_SENTENCES})")
