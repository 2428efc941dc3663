"""WER/CER with jiwer on normalised text, plus the counts a report needs: jiwer's word alignment per utterance,
sclite's columns (Snt, Wrd, Corr, Sub, Del, Ins, Err, S.Err) and the most frequent confusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, astuple, dataclass

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
    """Most frequent (reference word, hypothesis word) errors; '*' stands for a missing word."""
    found = confusion_counts(word_alignment(normalise_text(r), normalise_text(h)) for r, h in zip(refs, hyps))
    counts = found.substitutions + Counter({(w, "*"): n for w, n in found.deletions.items()})
    counts += Counter({("*", w): n for w, n in found.insertions.items()})
    return [(a, b, n) for (a, b), n in counts.most_common(top)]


# ---- alignments and sclite's columns ------------------------------------------------------------------------
Alignment = list[tuple[str, str, str]]  # (kind, ref word or "", hyp word or "") per aligned position


def word_alignment(ref: str, hyp: str) -> Alignment:
    """(kind, ref word or '', hyp word or '') per aligned position of two normalised texts; kind is jiwer's
    equal/substitute/delete/insert, from the same alignment jiwer's WER counts."""
    r, h = ref.split(), hyp.split()
    if not r:
        return [("insert", "", w) for w in h]
    out = jiwer.process_words(ref, hyp or "")
    pairs = []
    for c in out.alignments[0]:
        rs, hs = r[c.ref_start_idx : c.ref_end_idx], h[c.hyp_start_idx : c.hyp_end_idx]
        if c.type in ("equal", "substitute"):
            pairs += [(c.type, a, b) for a, b in zip(rs, hs)]
        elif c.type == "delete":
            pairs += [("delete", a, "") for a in rs]
        else:
            pairs += [("insert", "", b) for b in hs]
    return pairs


@dataclass(frozen=True)
class Counts:
    """sclite's columns over some utterances, as counts: Snt, Wrd, Corr, Sub, Del, Ins, S.Err (Err = Sub + Del +
    Ins)."""

    sentences: int = 0
    words: int = 0  # reference words
    correct: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    sentence_errors: int = 0  # utterances with at least one error

    @classmethod
    def of(cls, alignment: Alignment) -> Counts:
        """One utterance's counts from its alignment."""
        kinds = Counter(kind for kind, _, _ in alignment)
        errors = kinds["substitute"] + kinds["delete"] + kinds["insert"]
        return cls(1, kinds["equal"] + kinds["substitute"] + kinds["delete"], kinds["equal"], kinds["substitute"],
                   kinds["delete"], kinds["insert"], int(errors > 0))

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other))))

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """A fraction, as ErrorReport's."""
        return self.errors / max(self.words, 1)

    def percentages(self) -> dict[str, float]:
        """sclite's percentages: Corr, Sub, Del, Ins and Err of the reference words, S.Err of the sentences."""
        w, n = max(self.words, 1), max(self.sentences, 1)
        return {"Corr": 100 * self.correct / w, "Sub": 100 * self.substitutions / w, "Del": 100 * self.deletions / w,
                "Ins": 100 * self.insertions / w, "Err": 100 * self.errors / w, "S.Err": 100 * self.sentence_errors / n}


def total(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())


@dataclass(frozen=True)
class Confusions:
    substitutions: Counter  # (ref word, hyp word) -> count
    deletions: Counter  # ref word -> count
    insertions: Counter  # hyp word -> count


def confusion_counts(alignments: Iterable[Alignment]) -> Confusions:
    """Every substitution pair, deleted word and inserted word over some utterances' alignments."""
    found = Confusions(Counter(), Counter(), Counter())
    for alignment in alignments:
        for kind, a, b in alignment:
            if kind == "substitute":
                found.substitutions[(a, b)] += 1
            elif kind == "delete":
                found.deletions[a] += 1
            elif kind == "insert":
                found.insertions[b] += 1
    return found
