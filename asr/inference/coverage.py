"""Can the model's vocabulary spell what it hears? One cheap number per file, judged against the dev set.

Usage:
    fit = transcript_fit(log_probs, enc_lens, hyps)      # (B,): per segment, from what decoding computed anyway
    line = vocabulary_warning("talk.wav", transcript.fit, card)   # None, or one line for stderr

A model answers with its own units whatever it hears: the digit model writes digits for a sentence, for white
noise, for someone spelling their name. Its transcript then explains the audio badly, and CTC says so: the score
is the CTC log-likelihood of the transcript the search chose, per encoder frame (<= 0; 0 is a perfect fit). Speech
the vocabulary covers is explained almost exactly; speech outside it is forced onto the nearest units, and the
frames that do not match them cost log-probability.

Measured on two tiny digit models from tests/trained_model.py (one trained without noise clips, as the demo is,
one with), each calibrated on 20 held-out digit strings and warning below their 5th percentile: white noise, which
the noise-naive model writes as "six six seven six", warned 6 of 6 times (the other model answers it with nothing,
and a `no speech` note); espeak-ng sentences warned 19 and 20 of 20, AN4 (spelled names, dates, commands) 17 and
20 of 22, the other 20 held-out digit strings 1 and 3 times (the worst fits among them are one-word strings and
misrecognised ones: a dropped digit costs fit too). At the 1st percentile of so small a dev set the noise-naive
model's sentences warned only 4 of 20 times.

Training measures the score on the dev set at every validation (`ASRTask`), and `asr export` keeps its
percentiles in the model card; a file scoring below the dev set's 5th percentile gets one warning. Files are
scored over all their segments (weighted by length), so a long file is judged on all of it. A model file without
the calibration (older files, models trained outside `asr fit`) is never warned about.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from asr.model.asr_model import pad_targets
from asr.model.card import Calibration, ModelCard

SCORE = "ctc-fit"  # the score's name in the card: a later definition gets another name
WARN_BELOW = "5"  # the dev percentile under which a file is warned about
IMPOSSIBLE = -10.0  # per frame: a transcript CTC cannot align at all (more units than frames)


def transcript_fit(log_probs: Tensor, lens: Tensor, hyps: list[list[int]]) -> Tensor:
    """CTC log-probs (B, T', V), lengths (B,) and each segment's chosen unit ids -> (B,) CTC log-likelihood of the
    transcript per encoder frame, in [IMPOSSIBLE, 0]."""
    targets, target_lens = pad_targets(hyps, log_probs.device)  # (B, U), (B,)
    nll = F.ctc_loss(log_probs.float().transpose(0, 1), targets.clamp(min=0), lens, target_lens, blank=0,
                     reduction="none", zero_infinity=False)  # (B,)
    per_frame = -nll / lens.clamp(min=1).to(nll.dtype)
    return torch.nan_to_num(per_frame, nan=IMPOSSIBLE, neginf=IMPOSSIBLE).clamp(min=IMPOSSIBLE, max=0.0)


def file_fit(fits: list[tuple[float, float]]) -> float | None:
    """[(segment fit, segment seconds)] -> the file's fit, segments weighted by length; None without segments."""
    seconds = sum(s for _, s in fits)
    if not fits or seconds <= 0:
        return None
    return sum(f * s for f, s in fits) / seconds


def vocabulary_warning(name: str, fit: float | None, card: ModelCard) -> str | None:
    """One line when `fit` is below the dev set's WARN_BELOW percentile in `card`'s calibration, else None."""
    cal: Calibration | None = card.calibration
    if fit is None or cal is None or cal.score != SCORE or WARN_BELOW not in cal.percentiles:
        return None
    floor = cal.percentiles[WARN_BELOW]
    if fit >= floor:
        return None
    vocab = card.vocabulary or {}
    what = f"{vocab.get('kind', '?')} vocabulary of {vocab.get('size', '?')} units" if vocab else "vocabulary"
    return (f"{name}: the model's transcript fits this audio worse than {100 - int(WARN_BELOW)}% of its dev set "
            f"(CTC fit {fit:.3f} per frame, dev {WARN_BELOW}th percentile {floor:.3f}): the audio may hold words "
            f"its {what} cannot spell, or no speech; treat the transcript as a guess (`asr info MODEL`)")
