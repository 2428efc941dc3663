"""Long audio -> speech segments of bounded length, found by frame energy (a simple VAD).

A file of any length is walked in blocks to measure the energy of every 10 ms frame (360,000 numbers for an
hour), so memory does not grow with the file. Frames well above the file's noise floor and not far below its
loudest are speech; pauses of at least `min_silence_s` split segments (as Silero VAD's `get_speech_timestamps`
does), blips shorter than `min_speech_s` are dropped, and `pad_s` of context is kept on each side. A stretch of
speech longer than `max_segment_s` is cut at its quietest frame, so no segment exceeds what the model can attend
over.

Pure noise or silence has no frame far above its own floor, so it yields no segment at all: the decoder never
sees it. With `vad=False` every sample is kept (windows of at most `max_segment_s`, cut at quiet frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.audio import AudioSource
from asr.inference.options import SegmentOptions

HOP_S = 0.01  # energy frame
BLOCK_S = 60.0  # read this much at a time


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the file
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def frame_energies(src: AudioSource) -> np.ndarray:
    """(T,) energy in dB re full scale of each 10 ms frame, computed block by block."""
    hop = max(1, round(src.sample_rate * HOP_S))
    block = hop * round(BLOCK_S / HOP_S)
    out = []
    for start in range(0, src.num_samples, block):
        x = src.read(start, start + block)
        n = len(x) // hop
        if n == 0:
            break
        power = np.square(x[: n * hop].reshape(n, hop), dtype=np.float64).mean(axis=1)  # (n,)
        out.append(10.0 * np.log10(power + 1e-12))
    return np.concatenate(out) if out else np.zeros(0)


def find_segments(
    src: AudioSource, opts: SegmentOptions = SegmentOptions(), energy: np.ndarray | None = None  # noqa: B008
) -> list[Segment]:
    """Speech segments of `src`, in order, none longer than opts.max_segment_s. Pass `energy` when it is
    already measured (`frame_energies(src)`) to save a pass over the file."""
    energy = frame_energies(src) if energy is None else energy
    if len(energy) == 0:
        return []
    duration = src.duration
    if not opts.vad:
        regions = [(0, len(energy))]
    else:
        regions = speech_regions(energy, opts)
    max_frames = max(1, round(opts.max_segment_s / HOP_S))
    segments = []
    for a, b in regions:
        for x, y in split_long(energy, a, b, max_frames):
            segments.append(Segment(x * HOP_S, min(y * HOP_S, duration)))
    if not opts.vad and segments:  # the last partial frame belongs to the last window
        segments[-1] = Segment(segments[-1].start, duration)
    return segments


def speech_regions(energy: np.ndarray, opts: SegmentOptions) -> list[tuple[int, int]]:
    """(T,) frame energies -> [(first frame, end frame)) of padded speech regions."""
    speech = energy > speech_threshold(energy, opts)  # (T,)
    found = runs(speech)
    # Close pauses shorter than min_silence_s, then drop blips shorter than min_speech_s.
    min_gap, min_len, pad = (round(s / HOP_S) for s in (opts.min_silence_s, opts.min_speech_s, opts.pad_s))
    merged: list[list[int]] = []
    for a, b in found:
        if merged and a - merged[-1][1] < min_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    kept = [(a, b) for a, b in merged if b - a >= min_len]
    padded = []
    for i, (a, b) in enumerate(kept):
        prev_end = kept[i - 1][1] if i else -2 * pad
        next_start = kept[i + 1][0] if i + 1 < len(kept) else len(energy) + 2 * pad
        lo = max(0, a - min(pad, (a - prev_end) // 2))
        hi = min(len(energy), b + min(pad, (next_start - b) // 2))
        padded.append((lo, hi))
    return padded


def speech_threshold(energy: np.ndarray, opts: SegmentOptions) -> float:
    """The level in dB above which a 10 ms frame counts as speech (see SegmentOptions)."""
    if len(energy) == 0:
        return opts.floor_dbfs
    floor, loud = np.percentile(energy, [1, 99])
    return float(max(floor + opts.margin_db, loud - opts.range_db, opts.floor_dbfs))


def split_long(energy: np.ndarray, a: int, b: int, max_frames: int) -> list[tuple[int, int]]:
    """Cut [a, b) into pieces of at most max_frames, each cut at the quietest frame of the piece's second half
    (smoothed over 100 ms, so a cut lands in a pause rather than inside a plosive's closure)."""
    pieces = []
    smooth = np.convolve(energy, np.ones(10) / 10, mode="same") if b - a > max_frames else energy
    while b - a > max_frames:
        lo, hi = a + max_frames // 2, a + max_frames
        cut = lo + int(np.argmin(smooth[lo:hi]))
        pieces.append((a, cut))
        a = cut
    pieces.append((a, b))
    return pieces


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Boolean (T,) -> [(start, end)) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
