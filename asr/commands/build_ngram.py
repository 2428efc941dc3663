"""Usage:
    asr build-ngram --text data/tts-sentences/lm_text.txt --order 3 --out exp/tts-sentences/3gram.arpa
    asr build-ngram --manifest data/librispeech/train_cuts.jsonl.gz --order 4 --out lm/4gram.arpa.gz

Estimates a word-level ARPA n-gram (improved Kneser-Ney, else Witten-Bell) with IRSTLM from text files (one sentence a line)
and/or manifests' transcripts, for `asr transcribe/evaluate --ngram`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", action="append", default=[], help="text file, one sentence a line (repeatable)")
    parser.add_argument("--manifest", action="append", default=[], help="manifest whose transcripts to use (repeatable)")
    parser.add_argument("--held-out", action="append", default=[], metavar="MANIFEST",
                        help="dev/test manifest none of whose sentences may be in the text (repeatable): refused if so")
    parser.add_argument("--order", type=int, default=3, help="n-gram order (default 3)")
    parser.add_argument("--out", required=True, help="ARPA file to write (.arpa, or .arpa.gz)")


def run(args: argparse.Namespace) -> int:
    from asr.data.lm_data import read_sentences, refuse_held_out
    from asr.lm.arpa import read_arpa
    from asr.lm.irstlm import build_arpa

    sentences = read_sentences(args.text, args.manifest)
    refuse_held_out(sentences, args.held_out)
    out, smoothing = build_arpa(sentences, args.out, args.order)
    lm = read_arpa(out)
    counts = ", ".join(f"{n}-grams {sum(1 for g in lm.probs if len(g) == n):,}" for n in range(1, lm.order + 1))
    print(f"wrote {out} (order {lm.order}, {smoothing}: {counts})")
    return 0
