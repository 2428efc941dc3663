"""Word-level n-gram language models in the ARPA format (LibriSpeech's official 3-gram and 4-gram, OpenSLR 11;
IRSTLM's and KenLM's output), scored with Katz backoff:

    log10 P(w | h) = log10 p(h w)                      if the n-gram "h w" is listed
                   = backoff(h) + log10 P(w | h[1:])   otherwise (backoff 0 when h is not listed)

Words the model does not know score its `<unk>` entry when it has one, else `OOV_LOG10`. Scores are returned as
natural logs, to add to the search's other log-probabilities.

    lm = read_arpa("data/lm/3-gram.arpa.gz")
    state = lm.start()                      # ("<s>",)
    logp, state = lm.score(state, "hello")  # ln P(hello | <s>), the next context
    logp_end = lm.final(state)              # ln P(</s> | context)
"""

from __future__ import annotations

import functools
import gzip
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr.errors import UserError

LN10 = math.log(10.0)
OOV_LOG10 = -10.0  # pyctcdecode's unk_score_offset: an unknown word costs ten orders of magnitude
State = tuple[str, ...]  # the last (order - 1) words at most, oldest first


@dataclass
class ArpaLM:
    order: int
    probs: dict[State, float] = field(default_factory=dict)  # n-gram -> log10 p
    backoffs: dict[State, float] = field(default_factory=dict)  # context -> log10 backoff weight
    path: str = ""

    def __post_init__(self) -> None:
        self.unk = self.probs.get(("<unk>",), OOV_LOG10)
        self._cond = functools.lru_cache(maxsize=1 << 18)(self._log10)

    def start(self) -> State:
        return ("<s>",)

    def _log10(self, context: State, word: str) -> float:
        if (word,) not in self.probs:
            return self.unk
        total = 0.0
        for i in range(len(context) + 1):  # longest listed n-gram first, paying each skipped context's backoff
            gram = context[i:] + (word,)
            if gram in self.probs:
                return total + self.probs[gram]
            total += self.backoffs.get(context[i:], 0.0)
        return total + self.probs[(word,)]

    def score(self, state: State, word: str) -> tuple[float, State]:
        """ln P(word | state) and the state after it."""
        return self._cond(state, word) * LN10, self.next_state(state, word)

    def next_state(self, state: State, word: str) -> State:
        return (state + (word,))[-(self.order - 1):] if self.order > 1 else ()

    def final(self, state: State) -> float:
        """ln P(</s> | state)."""
        return self._cond(state, "</s>") * LN10

    def sentence_log_prob(self, words: list[str]) -> float:
        """ln P(words </s> | <s>)."""
        return sentence_log_prob(self, words)


def sentence_log_prob(lm: ArpaLM | Any, words: list[str]) -> float:
    """ln P(words </s> | <s>) under any model with start / score / final (ArpaLM, asr.lm.kenlm_lm.KenLM)."""
    state, total = lm.start(), 0.0
    for w in words:
        logp, state = lm.score(state, w)
        total += logp
    return total + lm.final(state)


_HEADER = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)")
_SECTION = re.compile(r"\\(\d+)-grams:")


def read_arpa(path: str | Path) -> ArpaLM:
    """Parse an ARPA file (plain or .gz). Raises UserError for a file that is not ARPA, naming the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"n-gram file not found: {path}; build one (recipes/tts/README.md) or download one "
                        "(`asr prepare librispeech-lm`)")
    opener = gzip.open if path.suffix == ".gz" else open
    counts: dict[int, int] = {}
    probs: dict[State, float] = {}
    backoffs: dict[State, float] = {}
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                if m := _HEADER.match(line):
                    counts[int(m.group(1))] = int(m.group(2))
                elif m := _SECTION.match(line):
                    n = int(m.group(1))
                elif line == "\\end\\":
                    break
                elif n > 0:
                    parts = line.split()
                    if len(parts) < n + 1:
                        raise UserError(f"{path}:{lineno}: an {n}-gram line needs a log-probability and {n} words, "
                                        f"got {line[:80]!r}; is this an ARPA file?")
                    gram = tuple(parts[1 : n + 1])
                    probs[gram] = float(parts[0])
                    if len(parts) > n + 1:
                        backoffs[gram] = float(parts[n + 1])
    except (OSError, EOFError, ValueError, UnicodeError) as e:
        raise UserError(f"cannot read n-gram file {path} ({e}); is it an ARPA file (plain or .gz)?") from None
    if not counts or not probs:
        raise UserError(f"{path} is not an ARPA file (no \\data\\ section with ngram counts); "
                        "a binary KenLM file is not read: use the ARPA file it was built from")
    return ArpaLM(max(counts), probs, backoffs, str(path))
