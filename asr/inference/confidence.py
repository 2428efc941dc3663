"""Word confidence: how likely a recognised word is right, from the CTC posteriors in and around it.

A CTC head is sure of its spikes even on speech it was never trained for: the demo digits model reads "the
weather is nice today" as six digits, and its words for speech outside the vocabulary get posteriors along
the alignment of 0.82 on average (39% of them >= 0.96), against 0.97 for digits it gets right. What does
differ is the rest of the distribution: around words it knows the frames are blank or one token, around words
it doesn't several tokens share the mass. So two pieces of evidence per word:

  p  the CTC posterior of the word's least sure token at its spike (the most probable frame of its span);
  h  the doubt around the word: the entropy of the CTC distribution per frame (over log V, so in [0, 1]),
     averaged over the frames within `window_s` of the word's spikes, each weighted by 1 - P(blank), so the
     silence around speech does not dilute it.

and P(correct) = sigmoid(peak * logit(p) + doubt * log(h) + bias): Platt scaling with two inputs, fitted on
word correctness (`fit_calibration`; tools/calibrate_confidence.py fits it for a model and can store it in
the model file's meta, `calibration_of` reads it back). Held-out words alone can't teach it what doubt looks
like (the demo model makes 9 errors in 1,454 dev words), so the fit also sees speech outside the vocabulary:
sentences synthesised with espeak-ng, every recognised word of which is wrong unless it is in the reference.
How sharp "sure" is differs between models, so the weights are a model's own: one fit for two digit models
together serves neither (tools/calibrate_confidence.py with both).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from torch import Tensor

EPS = 1e-4  # p and h are clamped to [EPS, 1 - EPS] before their logs: one frame's 1.0 is not certainty


@dataclass(frozen=True)
class Evidence:
    """What one word's confidence is computed from (see the module docstring)."""

    p: float  # least sure token's posterior at its spike
    h: float  # speech-weighted mean normalised entropy within window_s of the word's spikes
    raw: float  # mean over its tokens of the posterior along the alignment: the confidence before calibration


@dataclass(frozen=True)
class Calibration:
    """P(word correct) = sigmoid(peak * logit(p) + doubt * log(h) + bias).

    The defaults, for a model file that stores none, were fitted by tools/calibrate_confidence.py on the demo
    digits model (tts-digits + FSDD dev cuts, and 11 espeak-ng sentences outside its vocabulary in 3 voices).
    On its held-out test cuts right words keep 0.96 / 0.92 (raw 0.97), wrong ones drop to 0.50 / 0.22 (raw
    0.74 / 0.72), held-out OOV sentences to 0.17 (raw 0.80). A model with flatter posteriors reads as doubtful
    under them (the test suite's 300-step digits model: 0.55 on dev digits it gets right): fit its own."""

    peak: float = 0.365
    doubt: float = -3.106
    bias: float = -8.611
    window_s: float = 1.5

    def __call__(self, e: Evidence) -> float:
        p = min(max(e.p, EPS), 1 - EPS)
        z = self.peak * math.log(p / (1 - p)) + self.doubt * math.log(max(e.h, EPS)) + self.bias
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_of(meta: dict) -> Calibration:
    """The calibration stored in a model file's meta (key "confidence_calibration"), else the default."""
    stored = meta.get("confidence_calibration") if isinstance(meta, dict) else None
    if not isinstance(stored, dict):
        return Calibration()
    return Calibration(**{k: float(v) for k, v in stored.items() if k in Calibration.__dataclass_fields__})


def word_evidence(log_probs: Tensor, tokens: list[int], groups: list[list[int]],
                  spans: list[tuple[int, int, float]], frame_s: float, window_s: float) -> list[Evidence]:
    """CTC log-probs (T', V), the aligned tokens (L,), words as groups of token indices and each token's
    aligned frames [start, end) with its mean posterior -> one Evidence per word."""
    lp = log_probs.detach().float().cpu()
    p = lp.exp()
    V = lp.shape[-1]
    entropy = (-(p * lp.clamp(min=-50)).sum(-1) / math.log(V)).numpy()  # (T',) in [0, 1]
    speech = (1 - p[:, 0]).clamp(min=0).numpy()  # (T',) how likely each frame is to emit a token
    tok = p[:, tokens] if tokens else p[:, :0]  # (T', L)
    peaks = [s + int(tok[s:e, i].argmax()) for i, (s, e, _) in enumerate(spans)]
    half = max(1, round(window_s / frame_s))
    out = []
    for g in groups:
        a, b = max(0, peaks[g[0]] - half), peaks[g[-1]] + half + 1
        w = speech[a:b]
        h = float((entropy[a:b] * w).sum() / w.sum()) if w.sum() > 1e-6 else float(entropy[a:b].mean())
        least = min(float(tok[peaks[i], i]) for i in g)
        out.append(Evidence(least, h, float(np.mean([spans[i][2] for i in g]))))
    return out


def fit_calibration(evidence: list[Evidence], correct: list[bool], window_s: float = Calibration.window_s,
                    l2: float = 1e-3, steps: int = 50) -> Calibration:
    """Logistic regression of word correctness on (logit p, log h) by Newton's method, with a small L2 penalty
    on the two weights (so separable data still gives finite ones)."""
    if len(evidence) != len(correct) or not evidence:
        raise ValueError("fit_calibration needs one correctness label per word, and at least one word")
    pc = np.clip([e.p for e in evidence], EPS, 1 - EPS)
    X = np.stack([np.log(pc / (1 - pc)), np.log(np.maximum([e.h for e in evidence], EPS)),
                  np.ones(len(evidence))], axis=1)  # (N, 3)
    y = np.asarray(correct, dtype=float)
    w = np.zeros(3)
    reg = np.diag([l2 * len(y), l2 * len(y), 0.0])
    for _ in range(steps):
        q = 1 / (1 + np.exp(-np.clip(X @ w, -50, 50)))
        grad = X.T @ (q - y) + reg @ w
        hess = (X * (q * (1 - q))[:, None]).T @ X + reg + 1e-9 * np.eye(3)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(round(float(w[0]), 3), round(float(w[1]), 3), round(float(w[2]), 3), window_s)
