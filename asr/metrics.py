"""WER/CER with jiwer on normalised text, plus the counts a report needs."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import jiwer

from asr.text import normalise_text


@dataclass
class ErrorReport:
    wer: float  # fractions, not percentages
    cer: float
    ser: float  # sentence error rate
    substitutions: int
    deletions: int
    insertions: int
    words: int  # reference words
    chars: int  # reference characters
    char_errors: int
    utterances: int

    def to_dict(self) -> dict:
        return asdict(self)


def error_report(refs: list[str], hyps: list[str]) -> ErrorReport:
    """Score hypotheses against references after `normalise_text` on both sides."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("nothing to score: no utterances")
    refs = [normalise_text(r) for r in refs]
    hyps = [normalise_text(h) for h in hyps]
    # jiwer rejects empty references; score those utterances by hand (every hypothesis word is an insertion).
    keep = [i for i, r in enumerate(refs) if r]
    ins_extra = sum(len(hyps[i].split()) for i in range(len(refs)) if not refs[i])
    chars_extra = sum(len(hyps[i]) for i in range(len(refs)) if not refs[i])
    r, h = [refs[i] for i in keep], [hyps[i] for i in keep]
    if r:
        w = jiwer.process_words(r, h)
        c = jiwer.process_characters(r, h)
        s, d, i_ = w.substitutions, w.deletions, w.insertions
        char_err = c.substitutions + c.deletions + c.insertions
        n_chars = c.hits + c.substitutions + c.deletions
    else:
        s = d = i_ = char_err = n_chars = 0
    words = sum(len(x.split()) for x in r)
    i_ += ins_extra
    return ErrorReport(
        wer=(s + d + i_) / max(words, 1),
        cer=(char_err + chars_extra) / max(n_chars, 1),
        ser=sum(a != b for a, b in zip(refs, hyps)) / len(refs),
        substitutions=s, deletions=d, insertions=i_, words=words, chars=n_chars,
        char_errors=char_err + chars_extra, utterances=len(refs),
    )


def confusions(refs: list[str], hyps: list[str], top: int = 20) -> list[tuple[str, str, int]]:
    """Most frequent (reference word, hypothesis word) substitutions; '*' stands for a missing word."""
    counts: Counter = Counter()
    r = [normalise_text(x) for x in refs]
    h = [normalise_text(x) for x in hyps]
    pairs = [(a, b) for a, b in zip(r, h) if a]
    if not pairs:
        return []
    out = jiwer.process_words([a for a, _ in pairs], [b for _, b in pairs])
    for ref_words, hyp_words, chunks in zip(out.references, out.hypotheses, out.alignments):
        for c in chunks:
            if c.type == "substitute":
                for k in range(c.ref_end_idx - c.ref_start_idx):
                    counts[(ref_words[c.ref_start_idx + k], hyp_words[c.hyp_start_idx + k])] += 1
            elif c.type == "delete":
                for k in range(c.ref_start_idx, c.ref_end_idx):
                    counts[(ref_words[k], "*")] += 1
            elif c.type == "insert":
                for k in range(c.hyp_start_idx, c.hyp_end_idx):
                    counts[("*", hyp_words[k])] += 1
    return [(a, b, n) for (a, b), n in counts.most_common(top)]
