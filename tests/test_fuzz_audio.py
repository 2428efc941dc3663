"""Property-based tests (hypothesis) over the audio loader: random bytes, valid headers with random rates,
channel counts, sample formats and lengths, and truncations of real files. Every file either opens and reads as
finite float32 samples, or fails with one UserError line that names the file and holds no exception class or
traceback. A longer run: `ASR_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q tests/test_fuzz_audio.py`."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio import open_audio
from asr.errors import UserError

EXAMPLES = int(os.environ.get("ASR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
UNCLEAN = re.compile(r"Traceback|\b[A-Z][A-Za-z]+(Error|Exception)\b|Exception #|<class ")
FORMATS = [("WAV", "PCM_16"), ("WAV", "PCM_U8"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("WAV", "DOUBLE"),
           ("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS")]


def read_or_clean_error(path) -> None:
    try:
        with open_audio(path) as src:
            x = src.read()
            y = src.read_seconds(0.0, src.duration, 16000)
    except UserError as e:
        message = str(e)
        assert "\n" not in message and path.name in message and not UNCLEAN.search(message), message
        return
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert np.isfinite(x).all() and np.isfinite(y).all()  # NaN/Inf never reach the model
    assert src.num_samples >= 0 and src.sample_rate > 0


@FUZZ
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ".bin", ""]))
def test_random_bytes(tmp_path, raw, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(raw)
    read_or_clean_error(path)


@FUZZ
@given(fmt=st.sampled_from(FORMATS), rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000]),
       channels=st.integers(1, 6), seconds=st.floats(0, 0.3), keep=st.floats(0, 1), special=st.booleans(),
       seed=st.integers(0, 2**16))
def test_valid_headers_random_contents_and_truncations(tmp_path, fmt, rate, channels, seconds, keep, special, seed):
    container, subtype = fmt
    if container == "OGG" and rate > 48000:
        rate = 48000  # vorbis has no higher rates; not what this test is about
    n = int(rate * seconds)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, channels)).astype(np.float32)
    if special and subtype in ("FLOAT", "DOUBLE") and n:
        x.flat[rng.integers(0, x.size, size=max(1, x.size // 10))] = rng.choice([np.nan, np.inf, -np.inf])
    buf = io.BytesIO()
    try:
        sf.write(buf, x, rate, format=container, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return  # libsndfile itself won't write this combination
    data = buf.getvalue()
    path = tmp_path / f"x.{container.lower()}"
    path.write_bytes(data[: max(0, int(len(data) * keep))] if keep < 0.98 else data)
    read_or_clean_error(path)
