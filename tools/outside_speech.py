"""Usage:
    python tools/outside_speech.py --text tools/outside_text/an4_style.txt --out data/outside/an4_style
    python tools/outside_speech.py --text tools/outside_text/book_style.txt --out data/outside/book_style
    asr evaluate --model exp/an4/model.pt --manifest data/outside/an4_style/test_cuts.jsonl.gz

Speech from outside a corpus, to try a model on: each line of --text read by the held-out TTS voices (the test
split's espeak variants and natural voices of asr/corpora/tts_voices.py, cycled), written as a test split with
the project's manifests. The texts in tools/outside_text/ were written for this and are in no corpus: the
AN4-style lines spell names and say digits and commands as AN4's people do; the book-style lines are sentences
in the manner of an audiobook, none taken from LibriSpeech.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.corpora import tts_synth
from asr.text import normalise_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, required=True, help="one utterance a line")
    parser.add_argument("--out", type=Path, required=True, help="folder for the audio and manifests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    texts = [normalise_text(line) for line in args.text.read_text().splitlines() if line.strip()]
    voices = tts_synth.voices_per_split()
    plan = tts_synth.plan(args.out.name, {"train": [], "dev": [], "test": texts},
                          {"train": voices["train"], "dev": voices["dev"], "test": voices["test"]}, args.seed)
    cuts = tts_synth.build_corpus(args.out.name, args.out, {"test": plan["test"]}, jobs=1)
    print(f"wrote {len(cuts['test'])} utterances to {args.out}/test_cuts.jsonl.gz")


if __name__ == "__main__":
    main()
