"""English sentences (a 1,000+ word grammar, `asr.corpora.sentences`) spoken by synthetic voices.

Usage:
    asr prepare tts-sentences --out data/tts-sentences
    asr prepare tts-sentences --out data/tts-sentences --hours 1 --seed 1 --jobs 2

    from asr.corpora.tts_sentences import prepare_tts_sentences
    cuts = prepare_tts_sentences(Path("data/tts-sentences"))     # {"train": CutSet, "dev": ..., "test": ...}

The voices and their split are those of tts-digits. No dev or test sentence occurs in training (exact string),
so a model cannot pass the test by remembering whole sentences; words, though, are shared.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import sentences, tts_synth

if TYPE_CHECKING:
    from lhotse import CutSet

DEFAULT_HOURS = 2.5      # ~110 s of CPU: ~55 s on 2 idle cores (recipes/tts/README.md)
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


def prepare_tts_sentences(out_dir: Path, hours: float = DEFAULT_HOURS, seed: int = 0, jobs: int | None = None
                          ) -> dict[str, CutSet]:
    """Synthesise ~`hours` of sentences under `out_dir` and write train/dev/test manifests.

    Raises RuntimeError if a dev or test sentence occurs in training (it cannot, by construction: checked anyway).
    """
    voices = tts_synth.voices_per_split()
    sizes = tts_synth.split_sizes(hours, MEAN_SECONDS, {s: len(v) for s, v in voices.items()})
    utts = tts_synth.plan("tts-sentences", split_texts(sizes, seed), voices, seed)
    cuts = tts_synth.build_corpus("tts-sentences", Path(out_dir), utts, jobs)
    for split in ("dev", "test"):
        if shared := shared_texts(cuts[split], cuts["train"]):
            raise RuntimeError(f"{len(shared)} {split} sentences also occur in train, e.g. {sorted(shared)[0]!r}")
    return cuts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_tts_sentences`'s parameters (the prepare command passes them through)."""
    tts_synth.add_tts_arguments(parser, DEFAULT_HOURS)
