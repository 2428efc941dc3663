"""Usage:
    python tools/outside_speech.py --text tools/outside_text/an4_style.txt --out data/outside/an4_style
    python tools/outside_speech.py --text tools/outside_text/book_style.txt --out data/outside/book_style
    asr evaluate --model exp/an4/model.pt --manifest data/outside/an4_style/test_cuts.jsonl.gz
    python tools/outside_speech.py --text tools/outside_text/de_outside.tsv --language de --target en \
        --out data/outside/de_outside                  # German speech with English translations (speech translation)
    asr evaluate --model exp/tts-translation/model.pt --manifest data/outside/de_outside/test_cuts.jsonl.gz

Speech from outside a corpus, to try a model on: each line of --text read by the held-out TTS voices (the test
split's espeak variants and natural voices of asr/corpora/tts_voices.py, cycled), written as a test split with
the project's manifests. The texts in tools/outside_text/ were written for this and are in no corpus: the
AN4-style lines spell names and say digits and commands as AN4's people do; the book-style lines are sentences
in the manner of an audiobook, none taken from LibriSpeech. With --language de (espeak-ng's German voice in the
held-out variants) and --target en, each line is "German<TAB>English": the German is spoken, the English is the
translation the supervision carries (de_outside.tsv: the first three lines use only the translation grammar's
words in its sentence shapes, the others words and shapes it does not have).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.corpora import tts_synth
from asr.corpora.tts_voices import espeak_language_voices
from asr.text import normalise_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, required=True, help="one utterance a line")
    parser.add_argument("--out", type=Path, required=True, help="folder for the audio and manifests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language", default="en", help="the spoken language (en, or de: espeak-ng's voice)")
    parser.add_argument("--target", default=None, help="each line is 'spoken<TAB>translation' into this language")
    args = parser.parse_args()
    lines = [line.split("\t") for line in args.text.read_text().splitlines() if line.strip()]
    texts = [normalise_text(line[0]) for line in lines]
    voices = tts_synth.voices_per_split() if args.language == "en" else espeak_language_voices(args.language)
    plan = tts_synth.plan(args.out.name, {"train": [], "dev": [], "test": texts},
                          {"train": voices["train"], "dev": voices["dev"], "test": voices["test"]}, args.seed)
    translations = {u.id: {args.target: line[1].strip()} for u, line in zip(plan["test"], lines)} if args.target \
        else None
    cuts = tts_synth.build_corpus(args.out.name, args.out, {"test": plan["test"]}, jobs=1,
                                  language="English" if args.language == "en" else args.language,
                                  translations=translations)
    print(f"wrote {len(cuts['test'])} utterances to {args.out}/test_cuts.jsonl.gz")


if __name__ == "__main__":
    main()
