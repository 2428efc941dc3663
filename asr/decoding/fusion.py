"""Language models and biasing as named scorers of the beam search (shallow fusion), and the same terms for
scoring whole sequences (the rescoring search, the search-error check):

  "lm"       a transformer LM over the model's units (`asr.lm.model`), its key/value cache reordered with the beam
  "ngram"    a word-level ARPA model (`asr.lm.arpa`), scored when a word is complete: at the unit that starts the
             next word, and at <eos>
  "hotwords" a prefix tree of phrases (`asr.lm.hotwords`): a bonus per matched unit, taken back when the match fails
  "length"   a bonus per unit, against the LM's preference for short outputs

    joint = (1 - c) * decoder + c * ctc + lm_weight * lm + ngram_weight * ngram + hotwords + length_bonus * U

`Fusion` holds the loaded models (from files, once); `DecodeOptions` holds the weights. A weight of 0 leaves its
scorer out of the search entirely, so the search is then the one without it, token for token.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from asr.decoding.options import DecodeOptions
from asr.decoding.scorers import Scorer, Step
from asr.lm.arpa import ArpaLM, State, read_arpa
from asr.lm.hotwords import ContextGraph, parse_hotwords, read_hotwords
from asr.lm.io import check_units, load_lm
from asr.lm.model import LMCache, TransformerLM
from asr.tokenizer import SOS_EOS, Tokenizer


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


@dataclass
class Fusion:
    """What a search fuses: any of a transformer LM, an ARPA n-gram and a hotword graph, for one tokenizer."""

    tokenizer: Tokenizer
    lm: TransformerLM | None = None
    ngram: ArpaLM | None = None
    hotwords: ContextGraph | None = None
    sources: dict[str, str] = field(default_factory=dict)  # name -> file it was read from

    @classmethod
    def load(cls, tokenizer: Tokenizer, device: torch.device, lm: str | Path | None = None,
             ngram: str | Path | None = None, hotwords: str | Path | tuple[str, ...] | None = None,
             hotword_weight: float = 0.5) -> Fusion:
        """`hotwords`: a file of phrases, or the phrases (lines) themselves."""
        out = cls(tokenizer)
        if lm:
            out.lm, lm_tok, _ = load_lm(lm, device)
            check_units(lm_tok, tokenizer, lm)
            out.sources["lm"] = str(lm)
        if ngram:
            out.ngram, out.sources["ngram"] = read_arpa(ngram), str(ngram)
        if hotwords:
            out = out.with_hotwords(hotwords, hotword_weight)
        return out

    def with_hotwords(self, hotwords: str | Path | tuple[str, ...], bonus: float) -> Fusion:
        """A copy biased towards `hotwords` (a file, or the phrases), sharing this one's LMs."""
        if isinstance(hotwords, tuple):
            phrases, source = parse_hotwords(hotwords, bonus), f"{len(hotwords)} phrases"
        else:
            phrases, source = read_hotwords(hotwords, bonus), str(hotwords)
        graph = ContextGraph.build(phrases, self.tokenizer)
        return replace(self, hotwords=graph, sources={**self.sources, "hotwords": source})

    @functools.cached_property
    def units(self) -> WordUnits:
        return WordUnits.of(self.tokenizer)

    def scorers(self, opts: DecodeOptions, device: torch.device) -> dict[str, tuple[Scorer, float]]:
        """The fused scorers with their weights (those of weight 0 left out)."""
        out: dict[str, tuple[Scorer, float]] = {}
        if self.lm is not None and opts.lm_weight > 0:
            out["lm"] = (LMScorer(self.lm), opts.lm_weight)
        if self.ngram is not None and opts.ngram_weight > 0:
            out["ngram"] = (NgramScorer(self.ngram, self.units), opts.ngram_weight)
        if self.hotwords is not None:
            out["hotwords"] = (HotwordScorer(self.hotwords.to(device)), 1.0)
        if opts.length_bonus != 0:
            out["length"] = (LengthBonus(self.tokenizer.vocab_size), opts.length_bonus)
        return out

    def sequence_scores(self, seqs: list[list[int]], opts: DecodeOptions) -> list[float]:
        """The fused terms of whole sequences, weighted, as the search would have added them up."""
        total = [opts.length_bonus * len(s) for s in seqs]
        if self.lm is not None and opts.lm_weight > 0:
            lm = self.lm.sequence_log_prob(seqs).tolist()
            total = [t + opts.lm_weight * x for t, x in zip(total, lm)]
        if self.ngram is not None and opts.ngram_weight > 0:
            total = [t + opts.ngram_weight * self.ngram.sentence_log_prob(self.units.words(s))
                     for t, s in zip(total, seqs)]
        if self.hotwords is not None:
            total = [t + self.hotwords.sequence_score(s) for t, s in zip(total, seqs)]
        return total

    def describe(self, opts: DecodeOptions) -> dict[str, Any]:
        """Every scorer and weight in use, for `asr evaluate --json`."""
        weights = {"decoder": 1 - opts.ctc_weight, "ctc": opts.ctc_weight}
        if "lm" in self.sources:
            weights["lm"] = opts.lm_weight
        if "ngram" in self.sources:
            weights["ngram"] = opts.ngram_weight
        if "hotwords" in self.sources:
            weights["hotwords"] = 1.0
        weights["length"] = opts.length_bonus
        return {"weights": weights, "files": dict(self.sources)}


@dataclass(frozen=True)
class LMState:
    cache: LMCache | None  # None before <sos> is fed
    total: Tensor  # (N,) cumulative LM log-prob of each prefix


class LMScorer:
    """A transformer LM's log-probs: one cached LM step per search step, as for the attention decoder."""

    full, max_gain, proposes = True, 0.0, False

    def __init__(self, lm: TransformerLM) -> None:
        self.lm = lm

    def init_state(self, utt: Tensor) -> LMState:
        return LMState(None, torch.zeros(utt.shape[0], device=utt.device))

    def score(self, state: LMState, tokens: Tensor, cands: Tensor | None) -> Step:
        N, U = tokens.shape
        last = tokens[:, -1:] if U else tokens.new_full((N, 1), SOS_EOS)
        logp, cache = self.lm.step(last, state.cache)  # (N, V)
        step = Step(state.total[:, None] + logp, state.total + logp[:, SOS_EOS], cache)
        return step if cands is None else step.gather(cands)

    def select(self, state: LMState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> LMState:
        return LMState(step.pending.select(row), step.totals[row, col])


@dataclass(frozen=True)
class NgramState:
    context: list[State]  # per row: the n-gram context of the words completed so far
    word: list[str]  # per row: the word being spelt (not yet scored)
    total: Tensor  # (N,) cumulative n-gram log-prob of the completed words


class NgramScorer:
    """Word n-gram log-probs added when a word is complete; partial: only the search's candidates are looked up
    (a dictionary lookup per row and candidate, cached)."""

    full, max_gain, proposes = False, 0.0, False

    def __init__(self, lm: ArpaLM, units: WordUnits) -> None:
        self.lm, self.units = lm, units

    def init_state(self, utt: Tensor) -> NgramState:
        N = utt.shape[0]
        return NgramState([self.lm.start()] * N, [""] * N, torch.zeros(N, device=utt.device))

    def score(self, state: NgramState, tokens: Tensor, cands: Tensor | None) -> Step:
        N = len(state.word)
        cands = torch.arange(len(self.units.text), device=tokens.device).expand(N, -1) if cands is None else cands
        gains, nexts = [], []
        for n, row in enumerate(cands.tolist()):
            ctx, word = state.context[n], state.word[n]
            row_gain, row_next = [], []
            for c in row:
                if self.units.starts[c] and word:
                    logp, new_ctx = self.lm.score(ctx, word)
                    row_gain.append(logp), row_next.append((new_ctx, self.units.text[c]))
                else:
                    row_gain.append(0.0), row_next.append((ctx, word + self.units.text[c]))
            gains.append(row_gain), nexts.append(row_next)
        eos = [self._final(ctx, word) for ctx, word in zip(state.context, state.word)]
        gain = torch.tensor(gains, device=tokens.device)  # (N, C)
        return Step(state.total[:, None] + gain, state.total + torch.tensor(eos, device=tokens.device), nexts)

    def _final(self, ctx: State, word: str) -> float:
        if not word:
            return self.lm.final(ctx)
        logp, ctx = self.lm.score(ctx, word)
        return logp + self.lm.final(ctx)

    def select(self, state: NgramState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> NgramState:
        picked = [step.pending[r][c] for r, c in zip(row.tolist(), col.tolist())]
        return NgramState([p[0] for p in picked], [p[1] for p in picked], step.totals[row, col])


@dataclass(frozen=True)
class HotwordState:
    node: Tensor  # (N,) node of the context graph each row is at
    banked: Tensor  # (N,) bonus of the phrases each row has completed


class HotwordScorer:
    """Bonuses of a `ContextGraph`: the score of a prefix is its completed phrases' bonuses plus the bonus of the
    partial match it is in, so a partial match that fails gives its bonus back."""

    full, proposes = True, False

    def __init__(self, graph: ContextGraph) -> None:
        self.graph = graph
        self.max_gain = graph.max_gain

    def init_state(self, utt: Tensor) -> HotwordState:
        N = utt.shape[0]
        return HotwordState(torch.zeros(N, dtype=torch.long, device=utt.device), torch.zeros(N, device=utt.device))

    def score(self, state: HotwordState, tokens: Tensor, cands: Tensor | None) -> Step:
        g = self.graph
        nxt = g.next[state.node]  # (N, V)
        totals = state.banked[:, None] + g.bank[state.node] + g.node_score[nxt]
        eos = state.banked + g.end_bank[state.node]
        step = Step(totals, eos, per_token=nxt)
        return step if cands is None else step.gather(cands)

    def select(self, state: HotwordState, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> HotwordState:
        node = step.per_token[row, col]
        return HotwordState(node, step.totals[row, col] - self.graph.node_score[node])


class LengthBonus:
    """+1 per unit (weighted by `length_bonus`): counters the LM's pull towards short outputs."""

    full, max_gain, proposes = True, 1.0, False

    def __init__(self, vocab_size: int) -> None:
        self.V = vocab_size

    def init_state(self, utt: Tensor) -> Tensor:
        return torch.zeros(utt.shape[0], device=utt.device)

    def score(self, state: Tensor, tokens: Tensor, cands: Tensor | None) -> Step:
        width = self.V if cands is None else cands.shape[1]
        return Step((state + 1)[:, None].expand(-1, width), state)

    def select(self, state: Tensor, step: Step, row: Tensor, col: Tensor, same_rows: bool) -> Tensor:
        return step.totals[row, col]
