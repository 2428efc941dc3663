"""Hotwords: a prefix tree of phrases in the model's units that the search is biased towards (WeNet's context
graph, sherpa-onnx's hotwords; Aho-Corasick failure links so a failed match can restart inside itself).

A prefix's hotword score is the bonus of the phrases it has completed plus the bonus of the partial match it is
in (`bonus` per matched unit). When the next unit breaks the match the partial bonus is taken back (the score
falls to that of the longest phrase prefix that still matches), so a phrase that is only begun gains nothing.
A phrase that ends inside a longer one's match ("york" in "new york city") counts when that match stops there
(at "new york" + another word, or the end), not when the longer phrase completes: the longer one subsumes it.

The graph is compiled to dense tables over (node, unit) so the search scores every unit of every row at once:
  next[n, t]     the node after unit t at node n
  bank[n, t]     bonus made final by that move (a phrase completed)
  node_score[n]  the partial bonus held at node n; end_bank[n] what <eos> at n keeps

File format (`--hotwords FILE`): one phrase a line, optionally a tab or " : " and a per-unit bonus:
    arthur
    new york city : 2.5
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from asr.errors import UserError
from asr.text import normalise_text
from asr.tokenizer import Tokenizer

MAX_TABLE = 50_000_000  # nodes x units entries: ~400 MB of int64; beyond this the phrase list is unusually big
_WEIGHT = re.compile(r"^(.*?)(?:\t|\s+:\s+)([-+]?\d+(?:\.\d*)?)\s*$")


def read_hotwords(path: str | Path, default_bonus: float) -> list[tuple[str, float]]:
    """(phrase, bonus per unit) for each non-empty line of `path`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"hotwords file not found: {path}; give a text file with one phrase a line")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return parse_hotwords(lines, default_bonus, str(path))


def parse_hotwords(lines: list[str] | tuple[str, ...], default_bonus: float,
                   where: str = "hotwords") -> list[tuple[str, float]]:
    """(phrase, bonus per unit) for each line that is not empty or a # comment: "phrase" or "phrase : BONUS"."""
    out = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _WEIGHT.match(line)
        phrase, bonus = (m.group(1), float(m.group(2))) if m else (line, default_bonus)
        phrase = normalise_text(phrase)
        if not phrase:
            raise UserError(f"{where}:{lineno}: no words in {line.strip()!r}; one phrase a line, "
                            "optionally followed by ' : BONUS'")
        if bonus <= 0:
            raise UserError(f"{where}:{lineno}: bonus must be > 0, got {bonus}")
        out.append((phrase, bonus))
    if not out:
        raise UserError(f"{where} holds no phrases; write one phrase a line")
    return out


@dataclass
class ContextGraph:
    next: Tensor  # (nodes, V) long
    bank: Tensor  # (nodes, V) float
    node_score: Tensor  # (nodes,) float
    end_bank: Tensor  # (nodes,) float
    phrases: list[list[int]]
    max_gain: float

    @classmethod
    def build(cls, phrases: list[tuple[str, float]], tokenizer: Tokenizer) -> ContextGraph:
        V = tokenizer.vocab_size
        children: list[dict[int, int]] = [{}]
        score, is_end = [0.0], [False]
        units = []
        for text, bonus in phrases:
            ids = tokenizer.encode(text)
            units.append(ids)
            node = 0
            for t in ids:
                if t not in children[node]:
                    children[node][t] = len(children)
                    children.append({}), score.append(0.0), is_end.append(False)
                child = children[node][t]
                score[child] = max(score[child], score[node] + bonus)
                node = child
            is_end[node] = True
        nodes = len(children)
        if nodes * V > MAX_TABLE:
            raise UserError(f"{len(phrases)} hotword phrases make {nodes} graph nodes x {V} units, too many for "
                            "the search's tables; give fewer phrases")
        node_score = np.array(score, dtype=np.float32)
        ends = np.array(is_end)
        leaf_end = ends & np.array([not c for c in children])  # completed phrases that nothing extends
        own = np.where(ends, node_score, 0.0).astype(np.float32)  # a phrase that ends at the node
        end_bank = np.zeros(nodes, dtype=np.float32)  # kept when the match stops at the node: its phrase and those
        nxt = np.zeros((nodes, V), dtype=np.int64)    # ending it (the failure chain's), "york" in "new york"
        bank = np.zeros((nodes, V), dtype=np.float32)
        fail = [0] * nodes
        for n in _bfs(children):  # shallower nodes first: a node's failure target is complete before it
            if n:
                end_bank[n] = own[n] + end_bank[fail[n]]
                nxt[n], bank[n] = nxt[fail[n]], bank[fail[n]] + own[n]  # a unit that breaks the match
            for t, c in children[n].items():
                if n:  # the failure link of c: the longest proper suffix of its path that is a path too
                    fail[c] = int(nxt[fail[n], t])
                nxt[n, t], bank[n, t] = c, 0.0
        for n in range(nodes):  # arriving at a completed leaf banks what it completes and starts afresh at the root
            hit = leaf_end[nxt[n]]
            bank[n, hit] += end_bank[nxt[n, hit]]
            nxt[n, hit] = 0
        gain = float((bank + node_score[nxt] - node_score[:, None]).max())  # the most one unit can add
        return cls(torch.from_numpy(nxt), torch.from_numpy(bank), torch.from_numpy(node_score),
                   torch.from_numpy(end_bank), units, max(gain, 0.0))

    def to(self, device: torch.device) -> ContextGraph:
        return ContextGraph(self.next.to(device), self.bank.to(device), self.node_score.to(device),
                            self.end_bank.to(device), self.phrases, self.max_gain)

    def sequence_score(self, ids: list[int]) -> float:
        """The hotword score of a whole sequence, <eos> included, as the search adds it up."""
        node, banked = 0, 0.0
        for t in ids:
            banked += float(self.bank[node, t])
            node = int(self.next[node, t])
        return banked + float(self.end_bank[node])


def hotword_graph(hotwords: str | Path | tuple[str, ...], bonus: float, tokenizer: Tokenizer
                  ) -> tuple[ContextGraph, str]:
    """The graph of a hotwords file, or of the phrases (lines) themselves, and what it was read from."""
    if isinstance(hotwords, tuple):
        phrases, source = parse_hotwords(hotwords, bonus), f"{len(hotwords)} phrases"
    else:
        phrases, source = read_hotwords(hotwords, bonus), str(hotwords)
    return ContextGraph.build(phrases, tokenizer), source


def _bfs(children: list[dict[int, int]]) -> list[int]:
    order, i = [0], 0
    while i < len(order):
        order.extend(children[order[i]].values())
        i += 1
    return order
