"""One loader for word n-gram files, whichever backend reads them:

    lm = load_ngram("data/librispeech-lm/3-gram.arpa.gz")    # KenLM when the `kenlm` package imports
    lm = load_ngram("lm/4-gram.bin")                         # KenLM's binary file (made by KenLM's build_binary)
    lm = load_ngram("exp/tts/3gram.arpa", backend="dict")    # asr.lm.arpa's Python dicts

Both backends give the same scores (tests/test_kenlm.py); KenLM holds LibriSpeech's full 3-gram and 4-gram in
bounded memory, the dicts need ~150 bytes an n-gram (docs/performance.md, "Word n-grams"). The backend is
`backend`, else the environment's ASR_NGRAM_BACKEND (auto, kenlm or dict), else auto: KenLM when it imports.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Hashable
from pathlib import Path
from typing import Protocol

from asr.errors import UserError
from asr.lm.arpa import read_arpa

KENLM_MAGIC = b"mmap lm http://kheafield.com/code"  # how every KenLM binary file starts
BACKENDS = ("auto", "kenlm", "dict")


class WordNgram(Protocol):
    """A word n-gram as the search uses it: natural-log scores over hashable, by-value states."""

    order: int
    path: str

    def start(self) -> Hashable: ...

    def score(self, state: Hashable, word: str) -> tuple[float, Hashable]: ...

    def final(self, state: Hashable) -> float: ...

    def sentence_log_prob(self, words: list[str]) -> float: ...


def is_kenlm_binary(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(KENLM_MAGIC)) == KENLM_MAGIC


def kenlm_available() -> bool:
    try:
        importlib.import_module("kenlm")
    except ImportError:
        return False
    return True


def load_ngram(path: str | Path, backend: str | None = None) -> WordNgram:
    """Read an ARPA file (plain or .gz) or a KenLM binary file; `backend`: auto, kenlm or dict (see above)."""
    backend = backend or os.environ.get("ASR_NGRAM_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise UserError(f"unknown n-gram backend {backend!r} (ASR_NGRAM_BACKEND?); choose from {', '.join(BACKENDS)}")
    path = Path(path)
    if not path.is_file():
        return read_arpa(path)  # its one-line error
    binary = is_kenlm_binary(path)
    if backend == "dict" and not binary:
        return read_arpa(path)
    if not kenlm_available():
        if backend == "auto" and not binary:
            return read_arpa(path)
        raise UserError(f"{path} needs KenLM ({'a KenLM binary file' if binary else 'backend kenlm'}): "
                        "pip install kenlm (a C++ compiler and zlib's headers build it)")
    if backend == "dict":
        raise UserError(f"{path} is a KenLM binary file, which only KenLM reads: leave ASR_NGRAM_BACKEND unset, "
                        "or use the ARPA file it was built from")
    from asr.lm.kenlm_lm import KenLM

    return KenLM(path)
