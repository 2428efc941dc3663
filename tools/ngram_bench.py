"""Usage:
    # a 3-gram of LibriSpeech's pruned size and shape: AN4's training transcripts (IRSTLM, real probabilities) with
    # a block of synthetic words' n-grams added (each listed n-gram's prefix and suffix listed, backoffs on contexts)
    .venv/bin/python tools/ngram_bench.py synth --base exp/an4/3gram.arpa --unigrams 100000 --bigrams-per-word 12 \
        --trigrams-per-bigram 1.5 --out /tmp/big3.arpa
    .venv/bin/python tools/ngram_bench.py load /tmp/big3.arpa --backend dict    # a fresh process per run
    .venv/bin/python tools/ngram_bench.py load /tmp/big3.arpa --backend kenlm

`load` prints one JSON line: the seconds `asr.lm.ngram.load_ngram` took, the process's peak resident memory
(VmHWM) before and after, and ln P of a sentence (the same under both backends). docs/performance.md, "Word n-grams".
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from pathlib import Path


def vm_hwm_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synth(base: Path, out: Path, unigrams: int, per_word: int, per_bigram: float, seed: int = 0) -> dict[int, int]:
    """`base`'s n-grams plus synthetic words w0..w{unigrams-1}: per_word successors each (Zipf-like choice),
    ~per_bigram trigrams per bigram whose suffix is a bigram. Returns the n-gram counts written."""
    from asr.lm.arpa import read_arpa

    lm, rng = read_arpa(base), random.Random(seed)
    words = [f"w{i}" for i in range(unigrams)]
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(unigrams)))  # Zipf: a few words follow most
    succ = {u: sorted(set(rng.choices(range(unigrams), cum_weights=cum, k=per_word))) for u in range(unigrams)}
    grams: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for g, p in lm.probs.items():
        b = lm.backoffs.get(g)
        grams[len(g)].append(f"{p:.4f}\t{' '.join(g)}" + ("" if b is None else f"\t{b:.4f}"))
    for u in range(unigrams):
        grams[1].append(f"{rng.uniform(-7, -3):.4f}\t{words[u]}\t{rng.uniform(-1, -0.1):.4f}")
    for u, vs in succ.items():
        for v in vs:
            grams[2].append(f"{rng.uniform(-4, -0.3):.4f}\t{words[u]} {words[v]}\t{rng.uniform(-1, -0.1):.4f}")
            for w in rng.sample(succ[v], min(len(succ[v]), int(per_bigram + rng.random()))):
                grams[3].append(f"{rng.uniform(-3, -0.1):.4f}\t{words[u]} {words[v]} {words[w]}")
    with out.open("w") as f:
        f.write("\\data\\\n" + "".join(f"ngram {n}={len(g)}\n" for n, g in grams.items()) + "\n")
        for n, g in grams.items():
            f.write(f"\\{n}-grams:\n" + "\n".join(g) + "\n\n")
        f.write("\\end\\\n")
    return {n: len(g) for n, g in grams.items()}


def load(path: Path, backend: str) -> dict:
    from asr.lm.ngram import load_ngram

    before = vm_hwm_mb()
    t0 = time.perf_counter()
    lm = load_ngram(path, backend)
    seconds = time.perf_counter() - t0
    words = "one two three w1 w2 w3 zebra".split()
    return {"file": str(path), "backend": backend, "class": type(lm).__name__, "load_s": round(seconds, 2),
            "vm_hwm_before_mb": round(before), "vm_hwm_after_mb": round(vm_hwm_mb()),
            "sentence_ln_p": round(lm.sentence_log_prob(words), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth")
    s.add_argument("--base", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--unigrams", type=int, default=100_000)
    s.add_argument("--bigrams-per-word", type=int, default=12)
    s.add_argument("--trigrams-per-bigram", type=float, default=1.5)
    ld = sub.add_parser("load")
    ld.add_argument("path", type=Path)
    ld.add_argument("--backend", choices=["dict", "kenlm"], required=True)
    args = parser.parse_args()
    if args.command == "synth":
        counts = synth(args.base, args.out, args.unigrams, args.bigrams_per_word, args.trigrams_per_bigram)
        print(json.dumps({"out": str(args.out), "ngrams": counts}))
    else:
        print(json.dumps(load(args.path, args.backend)))


if __name__ == "__main__":
    main()
