"""Tokenizers: characters, whole words, and sentencepiece (BPE or unigram), behind one small interface.

Id layout shared by every kind: 0 = <blank> (CTC only), 1 = <sos/eos>, 2 = <unk>, then the units.
`WordUnits` reads words back out of unit ids (what word-level scorers such as an n-gram need).
A tokenizer serialises to a plain dict of str/int/list (`state()`), stored inside the model file, and is
rebuilt with `tokenizer_from_state()` without unpickling code.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import sentencepiece as spm

from asr.text import normalise_text

BLANK, SOS_EOS, UNK = 0, 1, 2
SPECIALS = ["<blank>", "<sos/eos>", "<unk>"]
KINDS = ("char", "word", "bpe", "unigram")


class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...  # V, specials included

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Iterable[int]) -> str: ...
    def id_to_piece(self, i: int) -> str: ...
    def state(self) -> dict: ...


class TableTokenizer:
    """Characters (space as '|') or whole words, looked up in a table."""

    def __init__(self, kind: str, units: list[str]) -> None:
        assert kind in ("char", "word")
        self.kind = kind
        self.units = SPECIALS + list(units)
        self.index = {u: i for i, u in enumerate(self.units)}

    @property
    def vocab_size(self) -> int:
        return len(self.units)

    def _split(self, text: str) -> list[str]:
        return text.split() if self.kind == "word" else list(text.replace(" ", "|"))

    def encode(self, text: str) -> list[int]:
        return [self.index.get(u, UNK) for u in self._split(normalise_text(text))]

    def decode(self, ids: Iterable[int]) -> str:
        units = [self.units[i] for i in ids if i > UNK or i == UNK]
        units = [u for u in units if u not in (SPECIALS[0], SPECIALS[1])]
        if self.kind == "word":
            return " ".join(units)
        return " ".join("".join(units).replace("|", " ").split())  # a dropped letter leaves no double space

    def id_to_piece(self, i: int) -> str:
        return self.units[i]

    def state(self) -> dict:
        return {"kind": self.kind, "units": self.units[len(SPECIALS) :]}


class SentencePieceTokenizer:
    """Sentencepiece BPE or unigram; sentencepiece's id i becomes i + 2 (its <unk> = 0 becomes our 2)."""

    def __init__(self, kind: str, model_proto: bytes) -> None:
        self.kind = kind
        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size() + 2

    def encode(self, text: str) -> list[int]:
        return [i + 2 for i in self.sp.encode(normalise_text(text))]

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([i - 2 for i in ids if i >= UNK])

    def id_to_piece(self, i: int) -> str:
        return SPECIALS[i] if i < 2 else self.sp.id_to_piece(i - 2)

    def state(self) -> dict:
        return {"kind": self.kind, "model": base64.b64encode(self.proto).decode("ascii")}


@dataclass(frozen=True)
class WordUnits:
    """Per unit id: does it start a new word, and the text it adds to the current word (sentencepiece's "▁the"
    starts "the"; "s" continues; a char tokenizer's "|" starts an empty word; a word tokenizer's units are words)."""

    starts: list[bool]
    text: list[str]

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> WordUnits:
        starts, text = [], []
        for i in range(tokenizer.vocab_size):
            piece = tokenizer.id_to_piece(i)
            if tokenizer.kind == "word":
                starts.append(True), text.append(piece)
            elif tokenizer.kind == "char":
                starts.append(piece == "|"), text.append("" if piece == "|" else piece)
            else:
                starts.append(piece.startswith("▁")), text.append(piece.removeprefix("▁"))
        return cls(starts, text)

    def words(self, ids: list[int]) -> list[str]:
        words: list[str] = []
        for i in ids:
            if self.starts[i] or not words:
                words.append("")
            words[-1] += self.text[i]
        return [w for w in words if w]


def train_tokenizer(texts: Iterable[str], kind: str = "char", vocab_size: int = 256) -> Tokenizer:
    """Build a tokenizer from training transcripts (normalised here). `vocab_size` is used by bpe/unigram only."""
    if kind not in KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(KINDS)}")
    lines = [t for t in (normalise_text(x) for x in texts) if t]
    if not lines:
        raise ValueError("no training text: the manifest has no non-empty transcripts")
    if kind == "char":
        return TableTokenizer("char", sorted(set("".join(lines).replace(" ", "|"))))
    if kind == "word":
        counts = Counter(w for line in lines for w in line.split())
        return TableTokenizer("word", sorted(counts))
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, model_type=kind, vocab_size=vocab_size - 2,
        character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, hard_vocab_limit=False,
        minloglevel=2,
    )
    return SentencePieceTokenizer(kind, buf.getvalue())


def tokenizer_from_state(state: dict) -> Tokenizer:
    if state["kind"] in ("char", "word"):
        return TableTokenizer(state["kind"], list(state["units"]))
    return SentencePieceTokenizer(state["kind"], base64.b64decode(state["model"]))


def unknown_words(tokenizer: Tokenizer, text: str) -> list[str]:
    """The normalised words of `text` the tokenizer can only write (wholly or partly) as <unk>, unique, in order."""
    return [w for w in dict.fromkeys(normalise_text(text).split()) if UNK in tokenizer.encode(w)]


def unknown_words_warning(tokenizer: Tokenizer, texts: Iterable[str], what: str = "reference") -> str | None:
    """One line counting the words of `texts` outside the tokenizer's vocabulary (None when there are none):
    a model cannot write them, so scoring counts each as an error whatever it hears."""
    known: dict[str, bool] = {}
    unknown: Counter = Counter()
    total = 0
    for text in texts:
        for w in normalise_text(text).split():
            total += 1
            if w not in known:
                known[w] = UNK not in tokenizer.encode(w)
            if not known[w]:
                unknown[w] += 1
    if not unknown:
        return None
    shown = ", ".join(repr(w) for w, _ in unknown.most_common(5)) + (", ..." if len(unknown) > 5 else "")
    return (f"warning: {sum(unknown.values())} of {total} {what} words ({len(unknown)} distinct: {shown}) are "
            f"outside the model's vocabulary (it can only write them as <unk>), so each counts as an error")
