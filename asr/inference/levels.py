"""One pass over a recording, block by block: what the rest of the pipeline needs to know about its samples.

`measure(src)` reads the file in blocks of BLOCK_S (memory does not grow with the file) and returns `Levels`:
the 10 ms frame energies (dB re full scale) of the signal with its DC offset removed, the offset, the peak,
and how many samples are NaN or infinite. From them:

- **DC removal**: the file's mean is subtracted everywhere (a 0.4 offset from a bad converter would otherwise
  be the loudest thing in every frame: no frame stands out, and the VAD and the model hear a constant).
- **Digital silence**: no sample further than SILENCE_DBFS from the mean. Nothing to decode.
- **Speech level**: the 99th percentile of the frame energies (a recording that is mostly pauses still has
  1% of frames in its speech).
- **Gain for the VAD** (`vad_gain_db`): the speech level is brought to VAD_LEVEL_DBFS. Silero VAD is not
  level-invariant: a real FSDD digit peaking at -40 dBFS scores 0.43, at -60 dBFS 0.05 (threshold 0.5).
- **Gain for the model** (`model_gain_db`): a speech level inside MODEL_LEVEL_DBFS, the range the training
  corpora span (FSDD and the TTS digits: 5th-95th percentiles -35 to -8 dBFS), is left as it is: log-mel + CMVN
  is level-robust there, and scaling every file to one level cost accuracy on the demo model (FSDD test 6.0% ->
  7.5% WER, TTS digits 2.26% -> 2.63%, all to -20 dBFS). A level outside it is brought to MODEL_TARGET_DBFS,
  between the corpora's medians (-20 and -13), not to the range's edge, where the model is weakest: FSDD test
  takes with their peak at -60 dBFS in 16-bit, 11 of 20 right when brought to -35, 18 of 20 at -20 (the
  originals: 19 of 20); below the range the log-mel floor swallows quiet speech.
- **Word edges** (`speech_threshold`): a frame energy threshold relative to the file's own floor and speech
  level, so it works at any level and offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.audio import AudioSource

HOP_S = 0.01  # energy frame
BLOCK_S = 60.0  # read this much at a time
SILENCE_DBFS = -80.0  # peak below this (16-bit dither is -90): digital silence
VAD_LEVEL_DBFS = -20.0  # speech level the VAD is given
MODEL_LEVEL_DBFS = (-35.0, -10.0)  # speech levels the model is given unchanged...
MODEL_TARGET_DBFS = -15.0  # ...and where a level outside them is brought
EPS = 1e-12  # power floor: -120 dB


@dataclass(frozen=True)
class Levels:
    energy: np.ndarray  # (T,) dB re full scale of each 10 ms frame, DC removed
    dc: float  # the mean sample
    peak_dbfs: float  # the largest |sample - dc|, in dB re full scale
    nonfinite: int  # samples that are NaN or +-inf
    first_nonfinite_s: float | None  # where the first of them is

    @property
    def silent(self) -> bool:
        return self.peak_dbfs < SILENCE_DBFS

    @property
    def speech_dbfs(self) -> float:
        return float(np.percentile(self.energy, 99)) if len(self.energy) else -120.0

    @property
    def vad_gain_db(self) -> float:
        return 0.0 if self.silent else VAD_LEVEL_DBFS - self.speech_dbfs

    @property
    def model_gain_db(self) -> float:
        if self.silent:
            return 0.0
        lo, hi = MODEL_LEVEL_DBFS
        return 0.0 if lo <= self.speech_dbfs <= hi else MODEL_TARGET_DBFS - self.speech_dbfs

    def for_vad(self, x: np.ndarray) -> np.ndarray:
        """Samples (S,) of this file -> DC removed, at the VAD's level."""
        return ((x - self.dc) * 10 ** (self.vad_gain_db / 20)).astype(np.float32, copy=False)

    def for_model(self, x: np.ndarray) -> np.ndarray:
        """Samples (S,) of this file -> DC removed, within the level range the model was trained on."""
        return ((x - self.dc) * 10 ** (self.model_gain_db / 20)).astype(np.float32, copy=False)


def measure(src: AudioSource) -> Levels:
    """Levels of `src`, read block by block at its native rate."""
    hop = max(1, round(src.sample_rate * HOP_S))
    block = hop * round(BLOCK_S / HOP_S)
    means, squares = [], []  # per frame, float64; the last partial frame is left out, as the energies did
    total, count, lo, hi = 0.0, 0, np.inf, -np.inf
    nonfinite, first = 0, None
    for start in range(0, src.num_samples, block):
        x = src.read(start, start + block).astype(np.float64)
        bad = ~np.isfinite(x)
        if bad.any():
            if first is None:
                first = (start + int(np.argmax(bad))) / src.sample_rate
            nonfinite += int(bad.sum())
            x[bad] = 0.0
        total, count = total + float(x.sum()), count + len(x)
        if len(x):
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        n = len(x) // hop
        frames = x[: n * hop].reshape(n, hop)  # (n, hop)
        means.append(frames.mean(axis=1))
        squares.append(np.square(frames).mean(axis=1))
    dc = total / count if count else 0.0
    m = np.concatenate(means) if means else np.zeros(0)
    q = np.concatenate(squares) if squares else np.zeros(0)
    # E[(x - dc)^2] per frame = E[x^2] - 2 dc E[x] + dc^2: the offset comes off without a second pass.
    power = np.maximum(q - 2 * dc * m + dc * dc, 0.0)
    peak = max(hi - dc, dc - lo) if count else 0.0
    return Levels(10.0 * np.log10(power + EPS), dc, 20.0 * np.log10(peak + EPS), nonfinite, first)


def speech_threshold(energy: np.ndarray, margin_db: float, range_db: float) -> float:
    """The energy in dB above which a 10 ms frame counts as speech for word edges: `margin_db` above the
    floor (the 1st percentile: a clip that is nearly all speech still has a few quiet frames) and within
    `range_db` of the speech level (the 99th). A clip with less dynamic range than that (all speech, or heavy
    noise) splits the difference, so some frames are always speech and some are not."""
    if len(energy) == 0:
        return 0.0
    floor, loud = np.percentile(energy, [1, 99])
    return float(min(max(floor + margin_db, loud - range_db), (floor + loud) / 2))
