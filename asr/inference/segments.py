"""A recording -> the segments the model decodes, none longer than `max_segment_s`. One policy for `asr
transcribe`, the Python API and `asr evaluate --max-segment S` (without it, evaluate decodes each cut whole), so
they agree on every file:

1. Digital silence (asr.inference.levels: nothing further than -80 dBFS from the mean): no segment.
2. A recording no longer than max_segment_s is one segment, the whole of it. A pre-segmented utterance is
   decoded as it is, as published WERs are computed: the VAD neither drops nor trims it (a VAD can only lose
   words there: under 10 dB SNR noise the energy VAD this replaced cut two words of four, and a clip that is
   all speech has no pause to find).
3. A longer recording: Silero VAD (asr.inference.vad) finds the speech; pauses of at least min_silence_s end
   a segment, blips shorter than min_speech_s are dropped, pad_s of context is kept each side. A stretch of
   speech longer than max_segment_s is cut at its quietest 10 ms frame (smoothed over 100 ms), so no segment
   exceeds what the model can attend over.
4. A longer recording in which the VAD finds no speech, but which is not silent, is decoded whole in windows
   of max_segment_s cut at quiet frames: never dropped (the model, trained on noise with empty transcripts,
   says whether anything was said). `vad=False` does the same for every recording.

The 10 ms frame energies come from the one pass of `asr.inference.levels.measure`, block by block, so memory
does not grow with the file; the VAD makes a second pass of its own, also block by block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asr.audio import AudioSource
from asr.inference.levels import HOP_S, Levels, measure
from asr.inference.options import SegmentOptions


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the file
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def find_segments(
    src: AudioSource, opts: SegmentOptions = SegmentOptions(), levels: Levels | None = None  # noqa: B008
) -> list[Segment]:
    """Segments of `src` to decode, in order, none longer than opts.max_segment_s (see the module's policy).
    Pass `levels` when they are already measured (`measure(src)`) to save a pass over the file."""
    levels = measure(src) if levels is None else levels
    duration = src.duration
    if src.num_samples == 0 or levels.silent:
        return []
    if duration <= opts.max_segment_s:
        return [Segment(0.0, duration)]
    regions: list[tuple[float, float]] = []
    if opts.vad:
        # torch and the Silero model are loaded only for long recordings
        from asr.inference.vad import speech_regions

        regions = speech_regions(src, levels, opts)
    if not regions:
        regions = [(0.0, duration)]
    return [piece for a, b in regions for piece in split_long(levels.energy, a, b, opts.max_segment_s)]


def split_long(energy: np.ndarray, start: float, end: float, max_s: float) -> list[Segment]:
    """[start, end) in seconds -> pieces of at most max_s, each cut at the quietest 10 ms frame of the piece's
    second half (smoothed over 100 ms, so a cut lands in a pause rather than inside a plosive's closure)."""
    pieces = []
    max_frames = max(1, math.floor(max_s / HOP_S))
    smooth = np.convolve(energy, np.ones(10) / 10, mode="same") if end - start > max_s else energy
    while end - start > max_s:
        a = math.ceil(start / HOP_S)
        lo, hi = a + max_frames // 2, min(a + max_frames, len(smooth))
        cut = (lo + int(np.argmin(smooth[lo:hi]))) * HOP_S if hi > lo else start + max_s
        cut = min(cut, start + max_s)
        pieces.append(Segment(start, cut))
        start = cut
    pieces.append(Segment(start, end))
    return pieces


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Boolean (T,) -> [(start, end)) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
