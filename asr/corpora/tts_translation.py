"""A speech-translation corpus that works offline: sentences of the synchronous German-English grammar
(`asr.corpora.translation_grammar`) spoken in one language by synthetic voices, the other language's sentence as
the translation.

Usage:
    asr prepare tts-translation --source de --target en --out data/tts-translation
    asr prepare tts-translation --source en --target de --out data/tts-translation-en-de --hours 2

    from asr.corpora.tts_translation import prepare_tts_translation
    cuts = prepare_tts_translation(Path("data/tts-translation"))   # {"train": CutSet, "dev": ..., "test": ...}

Each supervision holds the source transcript as its `text`, `language` the source language, and the translation in
`custom["translated_text"][target]`, as lhotse's speech-translation recipes store it (iwslt22_ta; `asr prepare
mustc` writes the same). German is spoken by espeak-ng's German voice in all its variants, the variants held out for
dev and test being those held out in the English corpora (`tts_voices.espeak_language_voices`); English by the
English voices of the other TTS corpora. No dev or test source sentence occurs in training (exact string).
`lm_text.txt` beside the manifests holds target-language sentences of the grammar that no split contains: the
text for a target-side LM (`asr train-lm`, `asr build-ngram`).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING

from asr.corpora import translation_grammar, tts_synth
from asr.corpora.tts_sentences import shared_texts
from asr.corpora.tts_voices import Voice, espeak_language_voices
from asr.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet

LANGUAGES = ("de", "en")
DEFAULT_HOURS = 12.0
DEFAULT_LM_SENTENCES = 100_000
MEAN_SECONDS = 3.3  # measured mean utterance length of German at the default rates; turns --hours into a count


def split_pairs(sizes: dict[str, int], source: str, seed: int) -> dict[str, list[translation_grammar.Pair]]:
    """Pairs per split whose source sentences are distinct across all splits, test and dev drawn first."""
    rng = random.Random(f"tts-translation-texts-{seed}")
    seen: set[str] = set()
    out: dict[str, list[translation_grammar.Pair]] = {}
    for split in ("test", "dev", "train"):
        chosen: list[translation_grammar.Pair] = []
        for _ in range(sizes[split] * 20):  # the grammar has billions of sentences: rejections are rare
            if len(chosen) == sizes[split]:
                break
            p = translation_grammar.pair(rng)
            text = getattr(p, source)
            if text not in seen:
                seen.add(text)
                chosen.append(p)
        out[split] = chosen
    return {split: out[split] for split in ("train", "dev", "test")}


def find_pairs(texts: set[str], seed: int = 0, source: str = "de", max_draws: int = 2_000_000
               ) -> dict[str, translation_grammar.Pair]:
    """The pairs (with their word alignments) whose `source` sentences are `texts`, drawn again as `split_pairs`
    drew them with `seed`: the corpus keeps the texts, the grammar the alignment. Texts not found are left out."""
    rng = random.Random(f"tts-translation-texts-{seed}")
    found: dict[str, translation_grammar.Pair] = {}
    for _ in range(max_draws):
        if len(found) == len(texts):
            break
        p = translation_grammar.pair(rng)
        if getattr(p, source) in texts:
            found.setdefault(getattr(p, source), p)
    return found


def voices_for(language: str) -> dict[str, list[Voice]]:
    """The voices of each split that speak `language`."""
    return tts_synth.voices_per_split() if language == "en" else espeak_language_voices(language)


def write_lm_text(path: Path, target: str, exclude: set[str], n: int, seed: int) -> Path:
    """`n` target-language sentences of the grammar, none of them in `exclude`; written whole or not at all."""
    rng = random.Random(f"tts-translation-lm-{seed}")
    lines: list[str] = []
    while len(lines) < n:
        text = getattr(translation_grammar.pair(rng), target)
        if text not in exclude:
            lines.append(text)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{t}\n" for t in lines))
    tmp.replace(path)
    return path


def prepare_tts_translation(out_dir: Path, source: str = "de", target: str = "en", hours: float = DEFAULT_HOURS,
                            seed: int = 0, jobs: int | None = None, lm_sentences: int = DEFAULT_LM_SENTENCES
                            ) -> dict[str, CutSet]:
    """Synthesise ~`hours` of `source`-language sentences under `out_dir`, with their `target` translations, and
    write train/dev/test manifests (and `lm_sentences` target sentences to lm_text.txt; 0: none)."""
    if {source, target} != set(LANGUAGES):
        raise UserError(f"--source and --target must be de and en, one each (the grammar's languages), not "
                        f"{source} and {target}")
    voices = voices_for(source)
    sizes = tts_synth.split_sizes(hours, MEAN_SECONDS, {s: len(v) for s, v in voices.items()})
    pairs = split_pairs(sizes, source, seed)
    corpus = f"tts-translation-{source}-{target}"
    utts = tts_synth.plan(corpus, {s: [getattr(p, source) for p in ps] for s, ps in pairs.items()}, voices, seed)
    translations = {u.id: {target: getattr(p, target)} for s in utts for u, p in zip(utts[s], pairs[s])}
    cuts = tts_synth.build_corpus(corpus, Path(out_dir), utts, jobs, source, translations)
    for split in ("dev", "test"):
        if shared := shared_texts(cuts[split], cuts["train"]):
            raise RuntimeError(f"{len(shared)} {split} sentences also occur in train, e.g. {sorted(shared)[0]!r}")
    if lm_sentences > 0:
        held = {s.custom["translated_text"][target] for split in ("dev", "test") for c in cuts[split]
                for s in c.supervisions}
        write_lm_text(Path(out_dir) / "lm_text.txt", target, held, lm_sentences, seed)
    return cuts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options named after `prepare_tts_translation`'s parameters (the prepare command passes them through)."""
    parser.add_argument("--source", choices=LANGUAGES, default="de", help="the spoken language (default de)")
    parser.add_argument("--target", choices=LANGUAGES, default="en", help="the translation's language (default en)")
    tts_synth.add_tts_arguments(parser, DEFAULT_HOURS)
    parser.add_argument("--lm-sentences", type=int, default=DEFAULT_LM_SENTENCES,
                        help=f"target-language sentences of LM text (lm_text.txt), none in dev or test; 0: none "
                             f"(default {DEFAULT_LM_SENTENCES})")
