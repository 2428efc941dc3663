"""Silero VAD over a recording of any length, block by block: speech probabilities per 32 ms, then speech regions.

The network and the region logic are the `silero-vad` package's own (`load_silero_vad`, the model's per-window
call, `get_speech_timestamps_from_probs`, the second half of its `get_speech_timestamps`); its model file ships
inside the wheel, so nothing is downloaded. What is ours is how the audio reaches it:

- the file is read in blocks (STREAMS x STREAM_WINDOWS windows, 131 s), DC removed and brought to the VAD's
  level (`Levels.for_vad`), and resampled to 16 kHz, so memory does not grow with the file;
- the model is recurrent and takes one 512-sample window per call: 0.75 ms a call on one thread, RTF 0.023, so
  83 s for an hour, four times what the whole of `asr transcribe` took for it before. Its batch dimension is for
  independent streams, so a block is cut into STREAMS consecutive 2 s stretches run side by side (57 us a
  window in batches of 64 on an idle core; the whole pass measured RTF 0.004-0.006 on 2 busy cores), each
  first fed the 0.5 s before it (WARMUP_WINDOWS, outputs dropped) so its state has heard the context. Against
  one sequential pass (the package's `get_speech_timestamps`), on 300 s of the long-form benchmark under hiss:
  the same 124 regions, every boundary within 0.1 s. The state never quite forgets where it began (restarting
  even a sequential pass 8 s earlier moves probabilities by up to 0.2), so a pause within a window or two of
  min_silence_s may split one pass and not the other (18 regions against 20 on FSDD digits 0.3 s apart);
- it runs on one thread: the per-window calls are too small to share, and on 2 busy cores two threads made
  them 25 times slower. The caller's thread count is put back afterwards (importing the package sets it to 1
  for the whole process, so that is undone too).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from asr.audio import AudioSource, resample
from asr.inference.levels import Levels
from asr.inference.options import SegmentOptions

VAD_SR = 16_000
WINDOW = 512  # samples at 16 kHz per model call (32 ms): fixed by the model
STREAM_WINDOWS = 64  # windows each stream contributes (2 s)
WARMUP_WINDOWS = 16  # windows each stream hears first and discards (0.5 s)
STREAMS = 64  # streams per block: the model's batch


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def _silero():
    """The silero_vad package, imported without its side effect: it sets 1 thread for the whole process."""
    with _threads(torch.get_num_threads()):
        import silero_vad

    return silero_vad


@functools.cache
def _model() -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # its loader uses APIs deprecated in importlib and torch.jit: not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        return _silero().load_silero_vad()  # the model file inside the package (TorchScript)


def speech_probabilities(src: AudioSource, levels: Levels) -> np.ndarray:
    """(N,) Silero's speech probability of each 32 ms window of `src` (at 16 kHz), read block by block."""
    n16 = round(src.num_samples * VAD_SR / src.sample_rate)  # samples at 16 kHz
    total = math.ceil(n16 / WINDOW)
    per_block = STREAMS * STREAM_WINDOWS
    out = []
    model = _model()
    with _threads(1), torch.no_grad():
        for w0 in range(0, total, per_block):
            count = min(per_block, total - w0)
            x = _read16(src, levels, (w0 - WARMUP_WINDOWS) * WINDOW, (w0 + count) * WINDOW)
            rows = _streams(x, count)  # (K, (WARMUP_WINDOWS + STREAM_WINDOWS) * WINDOW)
            model.reset_states()
            steps = [model(rows[:, i * WINDOW : (i + 1) * WINDOW], VAD_SR)[:, 0]
                     for i in range(rows.shape[1] // WINDOW)]  # each (K,)
            probs = torch.stack(steps, dim=1)[:, WARMUP_WINDOWS:]  # (K, STREAM_WINDOWS)
            out.append(probs.reshape(-1)[:count].numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _read16(src: AudioSource, levels: Levels, a: int, b: int) -> torch.Tensor:
    """16 kHz samples [a, b) of the conditioned file, zeros before its start and past its end: (b - a,)."""
    sr = src.sample_rate
    lo, hi = max(a, 0), b
    native = src.read(round(lo * sr / VAD_SR), min(round(hi * sr / VAD_SR), src.num_samples))
    x = resample(levels.for_vad(native), sr, VAD_SR)  # DC and gain before resampling: no step at the edges
    out = torch.zeros(b - a)
    n = min(len(x), hi - lo)
    out[lo - a : lo - a + n] = torch.from_numpy(x[:n])
    return out


def _streams(x: torch.Tensor, count: int) -> torch.Tensor:
    """A block's samples (warm-up + count windows) -> (K, (WARMUP_WINDOWS + STREAM_WINDOWS) * WINDOW) rows:
    row k is stream k's warm-up and windows, zero-padded at the block's end."""
    k_count = math.ceil(count / STREAM_WINDOWS)
    span = (WARMUP_WINDOWS + STREAM_WINDOWS) * WINDOW
    rows = torch.zeros(k_count, span)
    for k in range(k_count):
        a = k * STREAM_WINDOWS * WINDOW  # in x, which starts WARMUP_WINDOWS before the block
        piece = x[a : a + span]
        rows[k, : len(piece)] = piece
    return rows


def speech_regions(src: AudioSource, levels: Levels, opts: SegmentOptions) -> list[tuple[float, float]]:
    """[(start, end)] in seconds of the speech Silero finds in `src`, padded by opts.pad_s (half a pause at
    most), pauses shorter than opts.min_silence_s kept inside, blips shorter than opts.min_speech_s dropped."""
    probs = speech_probabilities(src, levels)
    n16 = round(src.num_samples * VAD_SR / src.sample_rate)
    found = _silero().get_speech_timestamps_from_probs(
        probs.tolist(), sampling_rate=VAD_SR, threshold=opts.vad_threshold,
        min_speech_duration_ms=round(opts.min_speech_s * 1000), min_silence_duration_ms=round(opts.min_silence_s * 1000),
        speech_pad_ms=round(opts.pad_s * 1000), audio_length_samples=n16,
    )
    return [(s["start"] / VAD_SR, min(s["end"] / VAD_SR, src.duration)) for s in found]
