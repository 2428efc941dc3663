"""Shallow fusion: which scorers (`asr.decoding.scorers`) join the decoder's and CTC's in a search, over which
loaded models and with what weights; and the same terms for whole sequences (the rescoring search, the
search-error check):

    joint = (1 - c) * decoder + c * ctc + lm_weight * lm + ngram_weight * ngram + hotwords + length_bonus * U

`SCORERS` is the registry: name -> (a function building the scorer from a `Fusion`'s loaded models and the search's
device, None when its model is not loaded; a function giving its weight from the `DecodeOptions`). Searches add
the scorers in the registry's order. Adding a scorer is one new file in asr/decoding/scorers/ (a class with
`init_state` / `score` / `select` / `sequence_scores`, see base.py) and one line here, e.g.

    "accent": (lambda f, device: AccentBonus(f.tokenizer), lambda o: o.accent_weight),

`Fusion` holds the loaded models (read from their files by `asr.lm`, once: `Transcriber.fusion` keeps a Fusion
while the same files are asked for); `DecodeOptions` holds the weights. A weight of 0 leaves its scorer out of
the search entirely, so the search is then the one without it, token for token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from asr.decoding.options import DecodeOptions
from asr.decoding.scorers import FusedScorer, HotwordScorer, LengthBonus, LMScorer, NgramScorer
from asr.lm.hotwords import ContextGraph, hotword_graph
from asr.lm.io import load_lm_for
from asr.lm.model import TransformerLM
from asr.lm.ngram import WordNgram, load_ngram
from asr.tokenizer import Tokenizer, WordUnits

Build = Callable[["Fusion", torch.device], "FusedScorer | None"]
Weight = Callable[[DecodeOptions], float]

SCORERS: dict[str, tuple[Build, Weight]] = {
    "lm": (lambda f, device: None if f.lm is None else LMScorer(f.lm), lambda o: o.lm_weight),
    "ngram": (lambda f, device: None if f.ngram is None else NgramScorer(f.ngram, f.units), lambda o: o.ngram_weight),
    "hotwords": (lambda f, device: None if f.hotwords is None else HotwordScorer(f.hotwords.to(device)),
                 lambda o: 1.0),  # the bonuses are the graph's own
    "length": (lambda f, device: LengthBonus(f.tokenizer.vocab_size), lambda o: o.length_bonus),
}
HOST = torch.device("cpu")  # where whole sequences are scored: the hotword graph is looked up unit by unit


@dataclass
class Fusion:
    """What a search fuses: any of a transformer LM, an ARPA n-gram and a hotword graph, for one tokenizer."""

    tokenizer: Tokenizer
    lm: TransformerLM | None = None
    ngram: WordNgram | None = None
    hotwords: ContextGraph | None = None
    sources: dict[str, str] = field(default_factory=dict)  # name -> file it was read from

    @classmethod
    def load(cls, tokenizer: Tokenizer, device: torch.device, lm: str | Path | None = None,
             ngram: str | Path | None = None, hotwords: str | Path | tuple[str, ...] | None = None,
             hotword_weight: float = 0.5) -> Fusion:
        """`hotwords`: a file of phrases, or the phrases (lines) themselves."""
        out = cls(tokenizer)
        if lm:
            out.lm, out.sources["lm"] = load_lm_for(lm, tokenizer, device), str(lm)
        if ngram:
            out.ngram, out.sources["ngram"] = load_ngram(ngram), str(ngram)
        if hotwords:
            out = out.with_hotwords(hotwords, hotword_weight)
        return out

    def with_hotwords(self, hotwords: str | Path | tuple[str, ...], bonus: float) -> Fusion:
        """A copy biased towards `hotwords` (a file, or the phrases), sharing this one's LMs."""
        graph, source = hotword_graph(hotwords, bonus, self.tokenizer)
        return replace(self, hotwords=graph, sources={**self.sources, "hotwords": source})

    @functools.cached_property
    def units(self) -> WordUnits:
        return WordUnits.of(self.tokenizer)

    def available(self, opts: DecodeOptions, device: torch.device) -> dict[str, tuple[FusedScorer, float]]:
        """Every registered scorer whose models are loaded, with its weight (0 included), in registry order."""
        out = {}
        for name, (build, weight) in SCORERS.items():
            scorer = build(self, device)
            if scorer is not None:
                out[name] = (scorer, weight(opts))
        return out

    def scorers(self, opts: DecodeOptions, device: torch.device) -> dict[str, tuple[FusedScorer, float]]:
        """The fused scorers with their weights (those of weight 0 left out)."""
        return {name: (s, w) for name, (s, w) in self.available(opts, device).items() if w != 0}

    def sequence_scores(self, seqs: list[list[int]], opts: DecodeOptions) -> list[float]:
        """The fused terms of whole sequences, weighted, as the search would have added them up."""
        total = [0.0] * len(seqs)
        for scorer, w in self.scorers(opts, HOST).values():
            total = [t + w * x for t, x in zip(total, scorer.sequence_scores(seqs))]
        return total

    def describe(self, opts: DecodeOptions) -> dict[str, Any]:
        """Every scorer and weight in use, for `asr evaluate --json`."""
        weights = {"decoder": 1 - opts.ctc_weight, "ctc": opts.ctc_weight}
        weights.update({name: w for name, (_, w) in self.available(opts, HOST).items()})
        return {"weights": weights, "files": dict(self.sources)}
