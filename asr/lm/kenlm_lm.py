"""Word n-grams on KenLM (the `kenlm` package): ARPA files (plain or .gz) and KenLM's memory-mapped binary files
(`build_binary lm.arpa lm.bin`, a tool of KenLM's C++ build, not of the Python package), with the interface and
the scores of `asr.lm.arpa.ArpaLM`:

    lm = KenLM("data/librispeech-lm/3-gram.pruned.1e-7.arpa.gz")
    state = lm.start()                      # a kenlm.State: hashable, equal by value
    logp, state = lm.score(state, "hello")  # ln P(hello | <s>), the next context
    logp_end = lm.final(state)              # ln P(</s> | context)

KenLM holds the n-grams in flat hash tables (~20 bytes each against ~150 in Python dicts) and its binary file is
mapped, not parsed, so LibriSpeech's full 3-gram and 4-gram load in bounded memory and in seconds.

Unknown words follow ArpaLM's rule, not KenLM's: the unigram `<unk>` score (or `OOV_LOG10` for a model without
`<unk>`), whatever the context, and the context starts again after them. KenLM would score P(<unk> | context)
with backoffs and keep `<unk>` in the context; the two backends' scores are equal this way.
"""

from __future__ import annotations

import functools
from pathlib import Path

import kenlm

from asr.errors import UserError
from asr.lm.arpa import LN10, OOV_LOG10, sentence_log_prob

MISSING_UNK_LOG10 = -100.0  # what KenLM gives <unk> when the ARPA file lists none (Config.unknown_missing_logprob)


class KenLM:
    """A KenLM model behind ArpaLM's interface; natural-log scores."""

    def __init__(self, path: str | Path) -> None:
        config = kenlm.Config()
        config.arpa_complain = kenlm.ARPALoadComplain.NONE  # a missing <unk> is our OOV rule's business
        try:
            self.model = kenlm.Model(str(path), config)
        except (OSError, RuntimeError) as e:
            raise UserError(f"cannot read n-gram file {path}: {str(e)[:300]}; is it an ARPA file (plain or .gz) "
                            "or a KenLM binary file?") from None
        self.order: int = self.model.order
        self.path = str(path)
        null = self._null()
        unk = self.model.BaseScore(null, "<unk>", kenlm.State())  # word index 0: the unigram, no context
        self.has_unk = unk > MISSING_UNK_LOG10
        self.unk = unk if self.has_unk else OOV_LOG10
        self._step = functools.lru_cache(maxsize=1 << 18)(self._log10)

    def _null(self) -> kenlm.State:
        state = kenlm.State()
        self.model.NullContextWrite(state)
        return state

    def start(self) -> kenlm.State:
        state = kenlm.State()
        self.model.BeginSentenceWrite(state)
        return state

    def _log10(self, state: kenlm.State, word: str) -> tuple[float, kenlm.State]:
        if word not in self.model and not (word == "<unk>" and self.has_unk):  # `in` is False for <unk> itself
            return self.unk, self._null()
        out = kenlm.State()
        return self.model.BaseScore(state, word, out), out

    def score(self, state: kenlm.State, word: str) -> tuple[float, kenlm.State]:
        """ln P(word | state) and the state after it."""
        log10, out = self._step(state, word)
        return log10 * LN10, out

    def final(self, state: kenlm.State) -> float:
        """ln P(</s> | state)."""
        return self._step(state, "</s>")[0] * LN10

    def sentence_log_prob(self, words: list[str]) -> float:
        """ln P(words </s> | <s>)."""
        return sentence_log_prob(self, words)
