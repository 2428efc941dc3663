"""Label recognised words right or wrong on held-out audio, to fit a model's confidence calibration.

`labelled` recognises one utterance whole (as `asr evaluate` does: no VAD) as the transcriber does, and
returns each recognised word's evidence (confidence.py) and whether it matches the transcript under the
alignment scoring uses. tools/calibrate_confidence.py runs it over manifests and synthesised speech.
"""

from __future__ import annotations

import numpy as np
import torch

from asr.audio import ArraySource
from asr.inference.confidence import Evidence, word_evidence
from asr.inference.evaluation import word_alignment
from asr.inference.options import TranscribeOptions
from asr.inference.timestamps import word_groups
from asr.inference.transcriber import Transcriber
from asr.text import normalise_text


def labelled(model: Transcriber, wave: np.ndarray, rate: int, ref: str, window_s: float
             ) -> tuple[list[Evidence], list[bool]]:
    """One utterance (S,) at `rate` and its transcript -> each recognised word's evidence and whether it is
    right. Words CTC cannot align are left out: align_words gives them confidence 0 whatever the fit."""
    words, evidence = recognised_evidence(model, wave, rate, window_s)
    right = [kind == "equal" for kind, _, hyp in word_alignment(normalise_text(ref), " ".join(words)) if hyp]
    return evidence, right


@torch.no_grad()
def recognised_evidence(model: Transcriber, wave: np.ndarray, rate: int, window_s: float
                        ) -> tuple[list[str], list[Evidence]]:
    """One utterance (S,) at `rate`, recognised as `asr transcribe` recognises it -> its words and their
    evidence; no words when CTC cannot align the transcript."""
    _, rec = model.recognise_whole("<utterance>", lambda: ArraySource(wave, rate), TranscribeOptions())
    tokens = rec.tokens[0]
    groups = word_groups(tokens, model.tokenizer)
    spans = rec.spans(0) if groups else []
    if not groups or spans[0][2] is None:
        return [], []
    evidence = word_evidence(rec.posteriors(0), tokens, groups, spans, model.clock.frame_s, window_s)
    return [model.tokenizer.decode([tokens[i] for i in g]).strip() for g in groups], evidence
