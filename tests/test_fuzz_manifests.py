"""Property-based tests (hypothesis) over what users feed the toolkit as text: manifests and transcripts.

Whatever the bytes, `load_cuts` either returns cuts or raises one UserError: one line, naming the manifest, with
no Python exception class or traceback in it. `normalise_text` never raises and is idempotent. CI runs a few
hundred examples each; a longer run: `ASR_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -q tests/test_fuzz_*.py`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.data.manifests import load_cuts
from asr.errors import UserError
from asr.text import normalise_text

EXAMPLES = int(os.environ.get("ASR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# What a clean user-facing line never holds: a traceback, or an exception class name ("KeyError: 'x'").
UNCLEAN = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(Error|Exception)\b|Exception #")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def assert_clean(error: UserError, path: Path) -> None:
    message = str(error)
    assert "\n" not in message, message
    assert path.name in message, message
    assert not UNCLEAN.search(message), message


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "a.wav"
    sf.write(path, (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32), 16000)
    return path


def nemo_lines(wav: Path):
    value = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True, allow_infinity=True) \
        | st.text(max_size=10) | st.lists(st.integers(), max_size=2)
    path = st.sampled_from([str(wav), wav.name, "missing.wav", str(wav.parent), ""]) | st.text(max_size=12) | value
    return st.fixed_dictionaries({"audio_filepath": path}, optional={"text": value | st.text(max_size=30),
                                                                      "duration": value, "offset": value})


def lhotse_lines():
    return st.fixed_dictionaries({"type": st.sampled_from(["MonoCut", "MixedCut", "PaddingCut"])},
                                 optional={"id": json_values, "start": json_values, "duration": json_values,
                                           "channel": json_values, "supervisions": json_values,
                                           "recording": json_values})


def write(path: Path, lines: list, encoding: str, gz: bool) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    data = text.encode(encoding, errors="replace")
    path = path.with_suffix(".jsonl.gz" if gz else ".jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@FUZZ
@given(data=st.data(), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]), gz=st.booleans())
def test_any_manifest_loads_or_fails_with_one_clean_line(tmp_path, wav, data, encoding, gz):
    kind = data.draw(st.sampled_from(["nemo", "lhotse", "junk"]))
    line = {"nemo": nemo_lines(wav), "lhotse": lhotse_lines(), "junk": json_values | st.text(max_size=40)}[kind]
    lines = data.draw(st.lists(line, min_size=0, max_size=5))
    path = write(tmp_path / f"m-{kind}", lines, encoding, gz)
    try:
        cuts = load_cuts(path)
    except UserError as e:
        assert_clean(e, path)
        return
    for cut in cuts:  # what loads is usable: finite, positive durations inside the audio
        assert np.isfinite(cut.duration) and cut.duration > 0


@FUZZ
@given(raw=st.binary(max_size=200), gz=st.booleans(), truncated=st.booleans(), cut=st.floats(0, 1))
def test_random_bytes_and_truncated_gzip_as_a_manifest(tmp_path, wav, raw, gz, truncated, cut):
    path = tmp_path / ("m.jsonl.gz" if gz else "m.jsonl")
    if gz and truncated:  # a real gzip stream cut short: the tail of a download that stopped
        whole = gzip.compress((json.dumps({"audio_filepath": str(wav), "text": "a"}) + "\n").encode() * 50)
        raw = whole[: int(cut * len(whole))]
    path.write_bytes(raw)
    try:
        load_cuts(path)
    except UserError as e:
        assert_clean(e, path)


@settings(max_examples=EXAMPLES * 3, deadline=None)
@given(st.text())
def test_normalise_text_never_raises_and_is_idempotent(text):
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert once == once.strip() and "  " not in once
    assert all(c in " '" or unicodedata.category(c)[0] in "LMN" for c in once), once  # letters of any script
