"""Streaming CTC search: WeNet's frame-synchronous CTC prefix beam search (U2/U2++), fed the CTC log-probs (T, V)
of each encoder chunk as it comes. The state is immutable: `advance` returns a new one.

For each prefix g the beam keeps the log-probability that the frames read so far spell exactly g, ending in a
blank or in g's last label, summed over every alignment (CTC's forward variables), and the best single alignment
of each kind, whose frames give the token times. Per frame only the `beam` most probable tokens extend prefixes,
then the `beam` best prefixes stay (WeNet's two prunings). A frame is a frame whatever chunk it came in, so
chunks of any size give the search over the whole input, number for number.

Fusion: any scorers of `asr.decoding.scorers` (hotwords, length bonus, LM, n-gram; `Fusion.scorers` or
`stream_scorers`) add their weighted score of a prefix's tokens to its rank, so a hotword phrase CTC ranks a
little low stays in the beam. Each prefix holds its own scorer states (one row) and their scores of every next
token, computed once, when it enters the beam.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from asr.decoding.fusion import Fusion
from asr.decoding.options import DecodeOptions
from asr.decoding.scorers import FusedScorer, Step
from asr.tokenizer import BLANK

NEG_INF = float("-inf")
Scorers = Mapping[str, tuple[FusedScorer, float]]  # name -> (scorer, weight), as `Fusion.scorers` gives them
Span = tuple[int, int]  # the frames [start, end) a token holds on an alignment


@dataclass(frozen=True)
class Path:
    """The best single alignment of a prefix that ends one way (blank or label): its log-prob, each token's span."""

    log_prob: float = NEG_INF
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Fused:
    """The fused scorers' view of one prefix."""

    states: tuple[tuple[Any, Step], ...]  # per scorer: its state (one row), its Step over every next token (1, V)
    total: float  # the weighted sum of the scorers' totals of the prefix
    after: tuple[float, ...]  # (V,) the same for the prefix followed by each token


@dataclass(frozen=True)
class Prefix:
    blank: float = NEG_INF  # log P(the frames so far spell the prefix, the last one a blank), all alignments
    label: float = NEG_INF  # the same, the last frame the prefix's last label
    best_blank: Path = Path()
    best_label: Path = Path()
    fused: Fused | None = None

    @property
    def score(self) -> float:
        """What the beam ranks by: CTC's log-probability of the prefix plus the fused terms."""
        return _add(self.blank, self.label) + (self.fused.total if self.fused else 0.0)

    @property
    def best(self) -> Path:
        return self.best_label if self.best_label.log_prob > self.best_blank.log_prob else self.best_blank


@dataclass(frozen=True)
class StreamSearchState:
    """Where the search stands after the frames it has read; `advance` makes the next one."""

    prefixes: Mapping[tuple[int, ...], Prefix]  # token ids -> its scores, best first; never changed once made
    frames: int = 0  # frames consumed
    trailing_blank: int = 0  # the last frames in a row whose most probable symbol was blank (endpoint rules)
    scorers: tuple[tuple[FusedScorer, float], ...] = ()  # the fused scorers and their weights


def stream_scorers(fusion: Fusion | None, opts: DecodeOptions, device: torch.device
                   ) -> dict[str, tuple[FusedScorer, float]]:
    """What the prefix search fuses, as `attention_rescoring`'s CTC pass does: the hotwords (a phrase the search
    never proposes could not be picked at the end). The LMs and the length bonus join at `rescore_final`."""
    if fusion is None or fusion.hotwords is None:
        return {}
    return {"hotwords": fusion.scorers(opts, device)["hotwords"]}


@torch.no_grad()
def init_state(fused: Scorers | None = None, device: torch.device | str = "cpu") -> StreamSearchState:
    """The state before any frame: the empty prefix. `fused`: scorers to add (weight 0 ones are left out), their
    states made on `device`; the same for the whole utterance."""
    scorers = tuple((s, w) for s, w in (fused or {}).values() if w != 0)
    root = Prefix(blank=0.0, best_blank=Path(0.0))
    if scorers:
        utt = torch.zeros(1, dtype=torch.long, device=device)
        root = replace(root, fused=_fuse(scorers, [s.init_state(utt) for s, _ in scorers], (), 0.0, utt.device))
    return StreamSearchState({(): root}, scorers=scorers)


@torch.no_grad()
def advance(state: StreamSearchState, log_probs: Tensor, beam: int) -> StreamSearchState:
    """One chunk: log_probs (T, V) fp32, CTC's log-probabilities of its frames (T >= 0) -> the state after them."""
    top_p, top_u = log_probs.float().topk(min(beam, log_probs.shape[-1]), dim=-1)  # (T, k) each
    prefixes, trailing = state.prefixes, state.trailing_blank
    for t, (ps, us, best) in enumerate(zip(top_p.tolist(), top_u.tolist(), log_probs.argmax(dim=-1).tolist())):
        prefixes = _frame(prefixes, state.frames + t, list(zip(us, ps)), beam, state.scorers)
        trailing = trailing + 1 if best == BLANK else 0
    return replace(state, prefixes=prefixes, frames=state.frames + log_probs.shape[0], trailing_blank=trailing)


def nbest(state: StreamSearchState, n: int) -> list[tuple[list[int], float]]:
    """The n best prefixes so far, best first: (token ids, CTC log-prob + fused terms)."""
    return [(list(g), p.score) for g, p in list(state.prefixes.items())[:n]]


def best_tokens(state: StreamSearchState) -> list[int]:
    return next((list(g) for g in state.prefixes), [])


def token_frames(state: StreamSearchState) -> list[tuple[int, int, int]]:
    """(i, start, end) for each token i of `best_tokens`: the frames [start, end) it holds on the best prefix's
    best alignment, counted from the stream's first frame (blank frames between tokens belong to neither)."""
    best = next(iter(state.prefixes.values()), None)
    return [] if best is None else [(i, s, e) for i, (s, e) in enumerate(best.best.spans)]


def _frame(prefixes: Mapping[tuple[int, ...], Prefix], t: int, cands: list[tuple[int, float]], beam: int,
           scorers: tuple[tuple[FusedScorer, float], ...]) -> dict[tuple[int, ...], Prefix]:
    """Frame t: every prefix extended by each of the frame's candidate (token, log-prob) -> the `beam` best."""
    acc: dict[tuple[int, ...], list] = {}  # prefix -> [blank, label, best blank, best label, parent or None]

    def entry(g: tuple[int, ...], parent: Prefix | None) -> list:
        return acc.setdefault(g, [NEG_INF, NEG_INF, Path(), Path(), parent])

    for u, p in cands:
        for g, old in prefixes.items():
            ctc = _add(old.blank, old.label)
            if u == BLANK:  # *a + - -> *a
                e = entry(g, None)
                e[0] = _add(e[0], ctc + p)
                if old.best.log_prob + p > e[2].log_prob:
                    e[2] = Path(old.best.log_prob + p, old.best.spans)
                continue
            if g and u == g[-1]:  # *a + a -> *a: the same label goes on
                e = entry(g, None)
                e[1] = _add(e[1], old.label + p)
                if old.best_label.log_prob + p > e[3].log_prob:
                    (*spans, (start, _)) = old.best_label.spans
                    e[3] = Path(old.best_label.log_prob + p, (*spans, (start, t + 1)))
                source, ctc = old.best_blank, old.blank  # *a- + a -> *aa: only after a blank
            else:
                source = old.best
            e = entry(g + (u,), old)
            e[1] = _add(e[1], ctc + p)
            if source.log_prob + p > e[3].log_prob:
                e[3] = Path(source.log_prob + p, (*source.spans, (t, t + 1)))

    def bonus(g: tuple[int, ...], parent: Prefix | None) -> float:
        fused = (parent or prefixes[g]).fused
        return 0.0 if fused is None else fused.after[g[-1]] if parent else fused.total

    possible = [(g, e) for g, e in acc.items() if max(e[0], e[1]) > NEG_INF]  # not those CTC can't place yet
    ranked = sorted(possible, key=lambda kv: _add(kv[1][0], kv[1][1]) + bonus(kv[0], kv[1][4]), reverse=True)
    out = {}
    for g, (blank, label, best_blank, best_label, parent) in ranked[:beam]:
        fused = prefixes[g].fused if parent is None else _child(scorers, parent.fused, g)
        out[g] = Prefix(blank, label, best_blank, best_label, fused)
    return out


def _child(scorers: tuple[tuple[FusedScorer, float], ...], parent: Fused | None, g: tuple[int, ...]) -> Fused | None:
    """The fused view of g from that of g without its last token."""
    if parent is None:
        return None
    device = parent.states[0][1].totals.device
    row, col = torch.zeros(1, dtype=torch.long, device=device), torch.tensor([g[-1]], device=device)
    states = [s.select(state, step, row, col, False) for (s, _), (state, step) in zip(scorers, parent.states)]
    return _fuse(scorers, states, g, parent.after[g[-1]], device)


def _fuse(scorers: tuple[tuple[FusedScorer, float], ...], states: list, g: tuple[int, ...], total: float,
          device: torch.device) -> Fused:
    ys = torch.tensor([g], dtype=torch.long, device=device).reshape(1, len(g))  # (1, U)
    steps = [s.score(state, ys, None) for (s, _), state in zip(scorers, states)]
    after = sum(w * step.totals[0].double() for (_, w), step in zip(scorers, steps))  # (V,)
    return Fused(tuple(zip(states, steps)), total, tuple(after.tolist()))


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) of two floats."""
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))
