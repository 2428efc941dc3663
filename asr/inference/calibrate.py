"""Label recognised words right or wrong on held-out audio, to fit a model's confidence calibration.

`labelled` decodes one utterance whole (as `asr evaluate` does: no VAD) with the default decoding policy, and
returns each recognised word's evidence (confidence.py) and whether it matches the transcript under the
alignment scoring uses. tools/calibrate_confidence.py runs it over manifests and synthesised speech.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from asr.decoding.options import DecodeOptions
from asr.decoding.policy import decode_encoded
from asr.inference.confidence import Evidence, word_evidence
from asr.inference.evaluation import word_alignment
from asr.inference.timestamps import _token_spans, word_groups
from asr.inference.transcriber import Transcriber
from asr.text import normalise_text


@torch.no_grad()
def labelled(model: Transcriber, wave: np.ndarray, rate: int, ref: str, window_s: float
             ) -> tuple[list[Evidence], list[bool]]:
    """One utterance (S,) at `rate` and its transcript -> each recognised word's evidence and whether it is
    right. Words CTC cannot align are left out: align_words gives them confidence 0 whatever the fit."""
    if rate != model.sample_rate:
        wave = soxr.resample(wave, rate, model.sample_rate)
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None].to(model.device)  # (1, S)
    enc, enc_lens, _ = model.net.encode(x, torch.tensor([x.shape[1]], device=model.device))
    log_probs = model.net.ctc_log_probs(enc)  # (1, T', V)
    tokens = decode_encoded(model.net, enc, enc_lens, DecodeOptions(), log_probs)[0]
    groups = word_groups(tokens, model.tokenizer)
    if not groups:
        return [], []
    lp = log_probs[0, : int(enc_lens[0])]
    spans = _token_spans(lp, tokens)
    if spans[0][2] is None:
        return [], []
    evidence = word_evidence(lp, tokens, groups, spans, model.clock.frame_s, window_s)
    words = [model.tokenizer.decode([tokens[i] for i in g]).strip() for g in groups]
    right = [kind == "equal" for kind, _, hyp in word_alignment(normalise_text(ref), " ".join(words)) if hyp]
    return evidence, right
