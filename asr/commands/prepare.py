"""Usage:
    asr prepare --help                                   # lists every corpus
    asr prepare tts-digits --out data/tts-digits         # ~80 s on 2 idle cores
    asr prepare tts-sentences --out data/tts-sentences --hours 1
    asr prepare fsdd --out data/fsdd --split speaker
    asr prepare librispeech --root /data/LibriSpeech --out data/ls   # the parts found there (or their parent folder)
    asr prepare CORPUS --help                            # the corpus's own options

Writes lhotse manifests `{out}/{split}_{recordings,supervisions,cuts}.jsonl.gz` for train/dev/test and prints
one summary line per split. Running it again with the same arguments reuses what exists.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from asr.corpora.registry import CORPORA, Corpus
from asr.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The corpus is a plain word, not an argparse sub-command, so a wrong name is a one-line UserError.
    parser.add_argument("corpus", metavar="CORPUS", help="which corpus: " + ", ".join(CORPORA))
    parser.add_argument("options", nargs=argparse.REMAINDER, help="--out DIR and the corpus's own options")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    width = max(map(len, CORPORA))
    parser.epilog = "corpora:\n" + "\n".join(f"  {name:<{width}}  {c.help}" for name, c in CORPORA.items())


def corpus_parser(name: str, corpus: Corpus) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"asr prepare {name}", description=corpus.help)
    parser.add_argument("--out", dest="out_dir", metavar="DIR", type=Path, required=True,
                        help="folder for audio and manifests")
    corpus.add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from asr.corpora.summary import summarise, vocabulary

    if args.corpus not in CORPORA:
        raise UserError(f"unknown corpus {args.corpus!r}; choose one of: {', '.join(CORPORA)}")
    corpus = CORPORA[args.corpus]
    options = vars(corpus_parser(args.corpus, corpus).parse_args(args.options))
    params = inspect.signature(corpus.prepare).parameters
    cuts = corpus.prepare(**{k: v for k, v in options.items() if k in params})
    for split, split_cuts in cuts.items():
        print(summarise(split_cuts).line(args.corpus, split))
    if "train" in cuts and "test" in cuts:
        unseen = vocabulary(cuts["test"]) - vocabulary(cuts["train"])
        print(f"{args.corpus} test: {len(unseen):,} words never heard in train")
    return 0
