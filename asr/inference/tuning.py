"""Pick fusion weights on a dev set: decode it once per point of a grid of (lm_weight, ngram_weight,
length_bonus) and rank the points by WER (ties: the faster one). `asr tune-lm` prints the table.

The models are loaded once (the transcriber keeps a `Fusion` while the same files are asked for), the audio is
read once per point (it is cheap next to the search); each point is exactly what `asr evaluate` with those weights
would score.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from asr.inference.evaluation import evaluate
from asr.inference.options import TranscribeOptions
from asr.inference.transcriber import Transcriber

if TYPE_CHECKING:
    from lhotse import CutSet


@dataclass(frozen=True)
class GridPoint:
    lm_weight: float
    ngram_weight: float
    length_bonus: float
    wer: float = 0.0
    rtf: float = 0.0
    errors: int = 0
    words: int = 0


def grid(lm_weights: Sequence[float], ngram_weights: Sequence[float], length_bonuses: Sequence[float]
         ) -> list[GridPoint]:
    return [GridPoint(a, b, c) for a, b, c in itertools.product(lm_weights, ngram_weights, length_bonuses)]


def tune(model: Transcriber, cuts: CutSet, opts: TranscribeOptions, points: list[GridPoint],
         on_point: Callable[[GridPoint], None] | None = None) -> list[GridPoint]:
    """Score every point; returns them best first (lowest WER, then lowest RTF)."""
    scored = []
    for p in points:
        decode = replace(opts.decode, lm_weight=p.lm_weight, ngram_weight=p.ngram_weight, length_bonus=p.length_bonus)
        ev = evaluate(model, cuts, replace(opts, decode=decode))
        r = ev.report
        done = replace(p, wer=r.wer, rtf=ev.rtf, errors=r.substitutions + r.deletions + r.insertions, words=r.words)
        scored.append(done)
        if on_point is not None:
            on_point(done)
    return sorted(scored, key=lambda p: (p.wer, p.rtf))
