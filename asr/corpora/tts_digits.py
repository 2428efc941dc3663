"""Connected-digit strings ("three oh seven") spoken by synthetic voices, split by voice.

Usage:
    asr prepare tts-digits --out data/tts-digits                  # 2.5 h, ~6,200 utterances, ~600 in test
    asr prepare tts-digits --out data/tts-digits --hours 0.5 --seed 1 --jobs 2

    from asr.corpora.tts_digits import prepare_tts_digits
    cuts = prepare_tts_digits(Path("data/tts-digits"))              # {"train": CutSet, "dev": ..., "test": ...}

Strings have 1 to 7 digits; zero is read "zero" or, as people often say it, "oh". Vocabulary: 11 words.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import tts_synth

if TYPE_CHECKING:
    from lhotse import CutSet

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOCABULARY = frozenset(DIGIT_WORDS + ("oh",))
OH_SHARE = 0.35          # how often 0 is read "oh" instead of "zero"
MAX_DIGITS = 7
DEFAULT_HOURS = 2.5      # ~160 s of CPU: ~80 s on 2 idle cores (recipes/tts/README.md)
MEAN_SECONDS = 1.46      # measured mean utterance length, turns --hours into a number of utterances


def digit_string(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(rng.randint(1, MAX_DIGITS))]
    return " ".join("oh" if d == 0 and rng.random() < OH_SHARE else DIGIT_WORDS[d] for d in digits)


def prepare_tts_digits(out_dir: Path, hours: float = DEFAULT_HOURS, seed: int = 0, jobs: int | None = None,
                       accents: bool = True) -> dict[str, CutSet]:
    """Synthesise ~`hours` of digit strings under `out_dir` and write train/dev/test manifests; `accents`: also
    the other languages' recorded persons reading respelled digits (tts_accents)."""
    voices = tts_synth.voices_per_split(VOCABULARY if accents else frozenset())
    sizes = tts_synth.split_sizes(hours, MEAN_SECONDS, {s: len(v) for s, v in voices.items()})
    rng = random.Random(f"tts-digits-texts-{seed}")
    texts = {split: [digit_string(rng) for _ in range(n)] for split, n in sizes.items()}
    utts = tts_synth.plan("tts-digits", texts, voices, seed)
    return tts_synth.build_corpus("tts-digits", Path(out_dir), utts, jobs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_tts_digits`'s parameters (the prepare command passes them through)."""
    tts_synth.add_tts_arguments(parser, DEFAULT_HOURS)
    parser.add_argument("--no-accents", dest="accents", action="store_false",
                        help="English voices only: leave out the Italian, Czech, Finnish, Russian and "
                             "Catalan persons reading respelled digits")
