"""Word timestamps and confidences from CTC forced alignment, sharpened by the waveform's energy.

1. `torchaudio.functional.forced_align` finds the most probable CTC path (T',) that reads exactly the decoded
   tokens, over the segment's CTC log-probabilities (T', V); `merge_tokens` turns it into one span of encoder
   frames per token. Tokens are grouped into words (a word token; characters up to '|'; sentencepiece pieces
   from one starting with '▁').
2. Encoder frames are coarse (80 ms with x8 subsampling) and CTC fires a spike somewhere inside a word, not at
   its edges. So the edges come from the 10 ms frame energies the segmenter already measured: between two
   consecutive words the boundary is the longest pause between their spikes (the first word ends where the
   pause starts, the next starts where it ends) or, without a pause, the quietest 50 ms between the spikes; the
   first word starts where the speech around its spike starts, the last ends where it stops. Edges within
   connected speech are therefore rougher than edges at pauses (tested: within 0.15 s at pauses).
3. Confidence of a word: a calibrated probability that it is right, from its least sure token's CTC posterior
   and the entropy of the CTC distribution around it (confidence.py: the posterior along the alignment alone
   is 0.96-1.0 on many words of speech the model has no words for).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from asr.decoding.ctc_path import token_spans
from asr.inference.confidence import Calibration, word_evidence
from asr.inference.results import Word
from asr.inference.segments import HOP_S, runs
from asr.model.clock import FrameClock
from asr.tokenizer import Tokenizer

CLOSURE_S = 0.1  # silences this short inside speech are stop closures (the /t/ of "eight"), not pauses
ONSET_S = 0.1  # a word boundary without a pause is not sought this close after the previous word's spike


def word_groups(tokens: list[int], tokenizer: Tokenizer) -> list[list[int]]:
    """Indices into `tokens` grouped by word; separators ('|' of a char tokenizer) belong to no word."""
    groups: list[list[int]] = []
    for i, t in enumerate(tokens):
        piece = tokenizer.id_to_piece(t)
        if tokenizer.kind == "word":
            groups.append([i])
        elif tokenizer.kind == "char":
            if piece == "|":
                groups.append([])
            elif not groups:
                groups.append([i])
            else:
                groups[-1].append(i)
        elif piece.startswith("\u2581") or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
    return [g for g in groups if g]


def align_words(
    log_probs: Tensor,
    tokens: list[int],
    tokenizer: Tokenizer,
    clock: FrameClock,
    seg_start: float,
    energy: np.ndarray | None = None,
    threshold_db: float | None = None,
    calibration: Calibration | None = None,
) -> list[Word]:
    """CTC log-probs (T', V) of one segment + its decoded tokens -> words with file times and confidences.

    energy: 10 ms frame energies (dB) of this segment (from seg_start) and the file's speech threshold, for sharp
    edges; without them edges are the encoder frames' own (multiples of clock.frame_s).
    calibration: evidence -> confidence (default: `Calibration()`; a model file's own via `calibration_of`).
    """
    groups = word_groups(tokens, tokenizer)
    if not groups:
        return []
    spans = token_spans(log_probs, tokens)  # per token: (first frame, end frame, mean posterior)
    cal = calibration or Calibration()
    aligned = spans[0][2] is not None  # groups is non-empty, so spans is too
    if aligned:
        confs = [cal(e) for e in word_evidence(log_probs, tokens, groups, spans, clock.frame_s, cal.window_s)]
    else:  # no alignment exists: the words' times are guesses, and so would a confidence be
        confs = [0.0] * len(groups)
    words = []
    half = clock.frame_s / 2
    for g, conf in zip(groups, confs):
        text = tokenizer.decode([tokens[i] for i in g]).strip()
        a, b = spans[g[0]][0], spans[g[-1]][1]
        words.append([text, max(clock.centre(a) - half, 0.0), clock.centre(b - 1) + half, conf])
    if energy is not None and threshold_db is not None and len(energy) > 0:
        _snap_to_energy(words, energy, threshold_db)
    return [Word(w, round(seg_start + s, 3), round(seg_start + e, 3), round(c, 4)) for w, s, e, c in words]


def _snap_to_energy(words: list[list], energy: np.ndarray, threshold_db: float) -> None:
    """Move word edges (in place) onto pauses and speech onsets/offsets of the 10 ms energy frames."""
    n = len(energy)
    speech = _close_gaps(energy > threshold_db, round(CLOSURE_S / HOP_S))
    mids = [min(max(round((s + e) / 2 / HOP_S), 0), n - 1) for _, s, e, _ in words]  # each word's spike
    for i in range(len(words) - 1):
        lo, hi = mids[i], max(mids[i + 1], mids[i] + 1)
        gap = _longest_run(~speech[lo:hi])
        if gap is not None:
            words[i][2], words[i + 1][1] = (lo + gap[0]) * HOP_S, (lo + gap[1]) * HOP_S
        else:
            # No pause: the quietest 50 ms between the spikes, not counting the 100 ms after the first spike
            # (a spike sits near its word's onset, and a weak onset such as the /f/ of "five" is quiet too).
            a = min(lo + round(ONSET_S / HOP_S), hi - 1)
            smooth = np.convolve(energy[a:hi], np.ones(5) / 5, mode="same")
            cut = a + int(np.argmin(smooth))
            words[i][2] = words[i + 1][1] = cut * HOP_S
    first = _run_near(speech, mids[0])
    if first is not None:
        words[0][1] = min(first[0] * HOP_S, words[0][2] - HOP_S)
    last = _run_near(speech, mids[-1])
    if last is not None:
        words[-1][2] = max(last[1] * HOP_S, words[-1][1] + HOP_S)
    for w in words:  # every word at least one frame long
        w[2] = max(w[2], w[1] + HOP_S)


def _close_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of False shorter than max_gap between two True runs (stop closures inside a word)."""
    out = mask.copy()
    idx = np.flatnonzero(mask)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap:
            out[a:b] = True
    return out


def _run_near(mask: np.ndarray, k: int) -> tuple[int, int] | None:
    """The run of True containing frame k, else the nearest one; None when there is none."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return None
    k = int(idx[np.argmin(np.abs(idx - k))])
    a, b = k, k + 1
    while a > 0 and mask[a - 1]:
        a -= 1
    while b < len(mask) and mask[b]:
        b += 1
    return a, b


def _longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """(start, end) of the longest run of True in `mask`, or None."""
    found = runs(mask)
    return max(found, key=lambda r: r[1] - r[0]) if found else None
