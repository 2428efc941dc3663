"""Audio in: any file or waveform -> mono float32 at the model's sample rate.

soundfile (libsndfile) reads wav, flac, ogg/vorbis, opus and mp3; ffmpeg decodes everything else (m4a/aac, webm,
video containers, ...) into a temporary 16-bit WAV that soundfile then reads. Channels are averaged; soxr
resamples. torchaudio has no audio I/O, so it is not used here.

Long files are never loaded whole: an `AudioSource` reads any span [start, stop) of its native-rate samples by
seeking, so memory is bounded by the span asked for (a block or a segment), not by the file's length. A span
holding NaN or infinite samples (float WAVs can) is a UserError naming the file: they never reach a model.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from asr.errors import UserError, brief

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".wma", ".aiff", ".aif", ".sph")


class AudioSource:
    """Samples of one recording at its native rate, read as mono float32 spans. Use as a context manager."""

    sample_rate: int
    num_samples: int  # samples per channel (S)

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Native-rate samples [start, stop) mixed down to mono: (S,) float32."""
        raise NotImplementedError

    def read_seconds(self, start_s: float, end_s: float, sr: int,
                     process: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The span [start_s, end_s) resampled to `sr`: (S,) float32. `process` is applied to the native-rate
        samples first (removing a DC offset before resampling leaves no step at the span's edges to ring)."""
        a, b = round(start_s * self.sample_rate), round(end_s * self.sample_rate)
        x = self.read(max(a, 0), min(b, self.num_samples))
        return resample(x if process is None else process(x), self.sample_rate, sr)

    def close(self) -> None:
        pass

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileSource(AudioSource):
    """A file soundfile can open (after ffmpeg, when it could not), read by seeking."""

    def __init__(self, path: Path, decoded: Path | None = None) -> None:
        self.path = path
        self._decoded = decoded  # ffmpeg's temporary WAV, deleted on close
        self._file = sf.SoundFile(decoded or path)
        self.sample_rate = self._file.samplerate
        self.num_samples = self._file.frames

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.num_samples if stop is None else min(stop, self.num_samples)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        try:
            self._file.seek(start)
            x = self._file.read(stop - start, dtype="float32", always_2d=True)  # (S, C)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise UserError(f"cannot read {self.path} ({brief(e)}); the file may be truncated or corrupt") from None
        bad = ~np.isfinite(x).all(axis=1)  # (S,): float files can hold NaN/Inf, which must never reach a model
        if bad.any():
            first = (start + int(np.argmax(bad))) / self.sample_rate
            raise UserError(f"{self.path}: samples are NaN or infinite (the first at {first:.3f} s); the file is "
                            f"damaged: repair or re-export it")
        return mono(x)

    def close(self) -> None:
        self._file.close()
        if self._decoded is not None:
            self._decoded.unlink(missing_ok=True)
            self._decoded = None


class ArraySource(AudioSource):
    """An in-memory waveform: (S,) mono, or (C, S) with channels first as torchaudio gives them."""

    def __init__(self, wave: np.ndarray | torch.Tensor, sample_rate: int) -> None:
        x = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
        if not np.issubdtype(x.dtype, np.floating):
            raise UserError(f"a waveform must be floating point in [-1, 1], got {x.dtype}; divide integers by 32768")
        if x.ndim == 2:
            x = x.mean(axis=0)
        if x.ndim != 1:
            raise UserError(f"a waveform must be (samples,) or (channels, samples), got shape {tuple(x.shape)}")
        self.samples = x.astype(np.float32, copy=False)
        self.sample_rate = int(sample_rate)
        self.num_samples = len(self.samples)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.samples[start:stop]


def open_audio(path: str | Path) -> AudioSource:
    """Open `path` with soundfile, or with ffmpeg when soundfile can't. Raises UserError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return FileSource(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        soundfile_error = brief(e)
    return FileSource(path, decoded=_ffmpeg_to_wav(path, soundfile_error))


def _ffmpeg_to_wav(path: Path, soundfile_error: str) -> Path:
    """Decode with ffmpeg to a temporary mono 16 kHz 16-bit WAV (1 h = 115 MB on disk, not in memory)."""
    if shutil.which("ffmpeg") is None:
        raise UserError(f"cannot read {path}: {soundfile_error}; install ffmpeg to read more formats")
    fd, tmp = tempfile.mkstemp(prefix="asr-audio-", suffix=".wav")
    os.close(fd)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(path),
           "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", tmp]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1].replace(str(path), "").strip(" :") if lines else f"ffmpeg exited with {done.returncode}"
        raise UserError(f"cannot read {path}: not an audio file soundfile or ffmpeg can decode ({why})")
    return Path(tmp)


def load_audio(path: str | Path, sr: int = 16_000) -> np.ndarray:
    """The whole file as mono float32 at `sr`: (S,). For long files prefer `open_audio` and read spans."""
    with open_audio(path) as src:
        return resample(src.read(), src.sample_rate, sr)


def mono(x: np.ndarray) -> np.ndarray:
    """(S, C) -> (S,) float32, the mean of the channels."""
    return (x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)).astype(np.float32, copy=False)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """(S,) float32 at sr_in -> (S',) float32 at sr_out (soxr, high quality)."""
    if sr_in == sr_out or len(x) == 0:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x, sr_in, sr_out).astype(np.float32, copy=False)


def find_audio(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (searched recursively for audio extensions) and globs -> (files in order, problems).

    A pattern that matches nothing is a problem, not an exception, so the other inputs are still transcribed.
    """
    inputs, problems = find_audio_inputs(patterns)
    return [i.path for i in inputs], problems


@dataclass(frozen=True)
class AudioInput:
    """A file found by `find_audio_inputs` and the root it was found under: the folder given, a glob's folder
    before its first wildcard, or a plain file's own folder."""

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        """The file's path below its root (`sub/x.wav` for `x.wav` found in `root/sub`)."""
        try:
            return self.path.relative_to(self.root)
        except ValueError:
            return Path(self.path.name)


def find_audio_inputs(patterns: list[str]) -> tuple[list[AudioInput], list[str]]:
    """`find_audio`, keeping each file's root so outputs can mirror the folders below it."""
    import glob

    found: list[AudioInput] = []
    problems: list[str] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
            if not files:
                problems.append(f"{pattern}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
            found += [AudioInput(f, p) for f in files]
        elif p.exists():
            found.append(AudioInput(p, p.parent))
        else:
            files = sorted(Path(f) for f in glob.glob(pattern, recursive=True) if Path(f).is_file())
            if not files:
                problems.append(f"{pattern}: no such file, folder or matching glob")
            found += [AudioInput(f, _glob_root(pattern)) for f in files]
    seen: set[Path] = set()
    unique = [i for i in found if not (i.path.resolve() in seen or seen.add(i.path.resolve()))]
    return unique, problems


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard: `data/**/x*.wav` -> `data`."""
    import glob

    parts = Path(pattern).parts
    fixed = [part for part in itertools.takewhile(lambda part: not glob.has_magic(part), parts)]
    return Path(*fixed) if fixed else Path(".")
