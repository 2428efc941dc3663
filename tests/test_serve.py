"""`asr serve` through OpenAI's own Python client: every response format, both granularities, streaming, each
error as the client's exception class, and concurrent requests batched together."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

openai = pytest.importorskip("openai")
from serve_util import running  # noqa: E402

from asr.serve import ServeOptions, create_app, serve_models  # noqa: E402

pytestmark = pytest.mark.timeout(300)
KEY = "test-key"


@pytest.fixture(scope="module")
def served(digits_model):
    """(base URL, app, [(wav, text)]): the digit model served with an API key, for this module; the texts are
    what the Python API transcribes (`asr.load_model(path).transcribe`): the server must say the same."""
    import asr

    path, heldout = digits_model
    wavs = [w for w, _ in heldout[:10]]
    library = [t.text for t in asr.load_model(path).transcribe(wavs)]
    opts = ServeOptions(max_batch=8, max_wait_ms=50, api_key=KEY, max_upload_mb=1, max_queue=8)
    app = create_app(serve_models({"digits": path}, opts), opts)
    with running(app, max_requests=400) as url:
        yield url, app, list(zip(wavs, library))


def client(url: str, key: str = KEY):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def test_every_response_format(served):
    url, _, heldout = served
    wav, text = heldout[0]
    c = client(url)
    with open(wav, "rb") as f:
        data = f.read()
    as_json = c.audio.transcriptions.create(model="digits", file=("a.wav", data))
    assert as_json.text == text
    plain = c.audio.transcriptions.create(model="digits", file=("a.wav", data), response_format="text")
    assert plain.strip() == text
    srt = c.audio.transcriptions.create(model="digits", file=("a.wav", data), response_format="srt")
    assert srt.startswith("1\n00:00:") and "-->" in srt and text in srt.replace("\n", " ")
    vtt = c.audio.transcriptions.create(model="digits", file=("a.wav", data), response_format="vtt")
    assert vtt.startswith("WEBVTT") and "-->" in vtt and text.split()[0] in vtt


def test_verbose_json_granularities(served):
    url, _, heldout = served
    wav, text = heldout[1]
    c = client(url)
    seg = c.audio.transcriptions.create(model="digits", file=Path(wav), response_format="verbose_json")
    assert seg.text == text and seg.words is None and seg.segments
    assert seg.duration == pytest.approx(sf.info(wav).duration, abs=0.01)
    s = seg.segments[0]
    assert s.id == 0 and 0 <= s.start < s.end <= seg.duration + 1e-3 and s.text == text and s.tokens
    both = c.audio.transcriptions.create(model="digits", file=Path(wav), response_format="verbose_json",
                                         timestamp_granularities=["word", "segment"])
    assert both.segments and [w.word for w in both.words] == text.split()
    starts = [w.start for w in both.words]
    assert starts == sorted(starts) and all(w.start < w.end for w in both.words)
    assert all(0 <= w.model_extra["confidence"] <= 1 for w in both.words)  # ours, beside OpenAI's fields
    words = c.audio.transcriptions.create(model="digits", file=Path(wav), response_format="verbose_json",
                                          timestamp_granularities=["word"])
    assert words.segments is None and [w.word for w in words.words] == text.split()


def test_stream_sends_deltas_then_done(served, tmp_path):
    url, _, heldout = served
    # Two utterances 25 s apart: a long file, cut by the VAD into segments, each sent as it is decoded.
    (w1, t1), (w2, t2) = heldout[0], heldout[2]
    a, sr = sf.read(w1, dtype="float32")
    b, _ = sf.read(w2, dtype="float32")
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([a, np.zeros(25 * sr, np.float32), b]), sr)
    events = list(client(url).audio.transcriptions.create(model="digits", file=long, stream=True))
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done" and set(kinds[:-1]) == {"transcript.text.delta"}
    assert len(kinds) >= 3  # one delta per segment with speech
    assert "".join(e.delta for e in events[:-1]) == events[-1].text == f"{t1} {t2}"


def test_errors_raise_the_clients_exception_classes(served, tmp_path):
    url, app, heldout = served
    wav = Path(heldout[0][0])
    c = client(url)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are not samples\n")
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.transcriptions.create(model="digits", file=not_audio)
    assert e.value.body["param"] == "file" and "notes.wav" in e.value.body["message"]
    assert "asr-upload" not in e.value.body["message"]  # the upload's name, not our temporary file's
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.transcriptions.create(model="digits", file=wav, response_format="xml")
    assert e.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.transcriptions.create(model="digits", file=wav, temperature=3)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.transcriptions.create(model="digits", file=wav, extra_body={"beam": "wide"})
    assert e.value.body["param"] == "beam"
    with pytest.raises(openai.BadRequestError):
        c.audio.transcriptions.create(model="digits", file=wav, extra_body={"ctc_weight": "1.5"})
    with pytest.raises(openai.AuthenticationError):
        client(url, "wrong").audio.transcriptions.create(model="digits", file=wav)
    r = httpx.get(f"{url}/v1/models")  # no key at all
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as e:
        c.audio.transcriptions.create(model="whisper-1", file=wav)
    assert "digits" in e.value.body["message"]  # says what is served
    big = tmp_path / "big.wav"
    sf.write(big, np.zeros(16000 * 40, np.float32), 16000)  # 1.3 MB > max_upload_mb=1
    with pytest.raises(openai.APIStatusError) as e:
        c.audio.transcriptions.create(model="digits", file=big)
    assert e.value.status_code == 413 and e.value.body["code"] == "file_too_large"
    # Translation: OpenAI's endpoint, answered in its error shape naming what the served model does.
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.translations.create(model="digits", file=wav)
    assert e.value.body["code"] == "unsupported_task" and "digits: transcribes en" in e.value.body["message"]
    assert "/v1/audio/transcriptions" in e.value.body["message"]
    r = httpx.get(f"{url}/v1/nothing", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "POST /v1/audio/transcriptions" in r.json()["error"]["message"]
    # The server is still up and right after all of that.
    assert c.audio.transcriptions.create(model="digits", file=wav).text == heldout[0][1]
    assert [m.id for m in c.models.list()] == ["digits"]


def test_queue_full_is_503_and_health_answers_while_the_model_is_busy(served):
    url, app, heldout = served
    batcher = app.state.serve.models["digits"].batcher
    wav = Path(heldout[0][0])
    batcher.hold()  # the model "busy": requests queue up
    try:
        with ThreadPoolExecutor(8) as pool:
            waiting = [pool.submit(client(url).audio.transcriptions.create, model="digits", file=wav)
                       for _ in range(8)]  # max_queue=8
            deadline = time.monotonic() + 30
            while app.state.serve.in_flight < 8:
                assert time.monotonic() < deadline, "requests did not arrive"
                time.sleep(0.02)
            started = time.perf_counter()
            health = httpx.get(f"{url}/health", timeout=5).json()
            assert time.perf_counter() - started < 1.0
            assert health["in_flight"] == 8 and health["waiting_segments"]["digits"] == 8
            with pytest.raises(openai.InternalServerError) as e:
                client(url).audio.transcriptions.create(model="digits", file=wav)
            assert e.value.status_code == 503 and e.value.body["code"] == "queue_full"
            batcher.hold(False)
            assert [f.result(timeout=60).text for f in waiting] == [heldout[0][1]] * 8
    finally:
        batcher.hold(False)


def test_concurrent_requests_share_batches_and_match_one_at_a_time(served):
    url, app, heldout = served
    batcher = app.state.serve.models["digits"].batcher
    files = [Path(w) for w, _ in heldout[:8]]
    c = client(url)
    alone = [c.audio.transcriptions.create(model="digits", file=f, response_format="verbose_json",
                                           timestamp_granularities=["word"]) for f in files]
    before = len(batcher.batches)
    batcher.hold()  # let all 8 arrive before the first batch is taken, so the test does not race the clock
    with ThreadPoolExecutor(len(files)) as pool:
        futures = [pool.submit(c.audio.transcriptions.create, model="digits", file=f, response_format="verbose_json",
                               timestamp_granularities=["word"]) for f in files]
        deadline = time.monotonic() + 30
        while batcher.waiting < len(files):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        batcher.hold(False)
        together = [f.result(timeout=60) for f in futures]
    assert [t.text for t in together] == [t.text for t in alone]
    assert [t.text for t in alone] == [t for _, t in heldout[:8]]
    for a, b in zip(alone, together):  # padding in a shared batch changes nothing, times included
        assert [(w.word, w.start, w.end) for w in a.words] == [(w.word, w.start, w.end) for w in b.words]
    shared = list(batcher.batches)[before:]
    assert max(len(r.requests) for r in shared) == len(files)  # one batch held every request's segment


# Held-out utterance 11, "eight four seven", which the digit model hears as "four seven" (as do models retrained
# with other noise draws): biased towards the phrase by 2 to 6 per word it says "eight four seven".
NEAR_MISS, PHRASE, BONUS = 11, "eight four seven", 3


def test_form_fields_set_decoding_and_hotwords(served, digits_model):
    """keywords (and hotword_bonus) reach the search: biasing brings back the word a near miss lost, and
    biasing towards a word that was not said changes nothing (tests/test_fusion.py: both at the search level)."""
    url, _, heldout = served
    wav, text = heldout[3]
    c = client(url)
    greedy = c.audio.transcriptions.create(model="digits", file=Path(wav), extra_body={"search": "greedy", "beam": 1})
    assert greedy.text == text
    unsaid = c.audio.transcriptions.create(model="digits", file=Path(wav),
                                           extra_body={"keywords": ["seven"], "hotword_bonus": BONUS})
    assert "seven" not in text.split() and unsaid.text == text

    missed, said = digits_model[1][NEAR_MISS]
    plain = c.audio.transcriptions.create(model="digits", file=Path(missed))
    assert said == PHRASE and plain.text != said, plain.text  # still a near miss: else pick another
    for extra in ({"keywords": [PHRASE], "hotword_bonus": BONUS}, {"keywords": [f"{PHRASE} : {BONUS}"]}):
        biased = c.audio.transcriptions.create(model="digits", file=Path(missed), extra_body=extra)
        assert biased.text == said, (extra, plain.text, biased.text)
    with pytest.raises(openai.BadRequestError):  # the greedy search fuses nothing: said, not ignored
        c.audio.transcriptions.create(model="digits", file=Path(wav),
                                      extra_body={"search": "greedy", "keywords": ["seven"]})
    with pytest.raises(openai.BadRequestError):
        c.audio.transcriptions.create(model="digits", file=Path(wav), extra_body={"keywords": ["!!!"]})


def test_curl_style_form_and_page(served):
    url, _, heldout = served
    wav, text = heldout[0]
    head = {"Authorization": f"Bearer {KEY}"}
    with open(wav, "rb") as f:
        r = httpx.post(f"{url}/v1/audio/transcriptions", headers=head, files={"file": ("x.wav", f)},
                       data={"response_format": "text"})
    assert r.status_code == 200 and r.text.strip() == text
    r = httpx.post(f"{url}/v1/audio/transcriptions", headers=head, data={"model": "digits"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = httpx.get(f"{url}/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert httpx.get(f"{url}/nowhere").json()["error"]["message"]


def test_serve_command_refuses_a_missing_model_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "asr.cli", "serve", "--model", str(tmp_path / "nope.pt")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: --model {tmp_path / 'nope.pt'}: no such file; "
                                                "give a model file from `asr export` (or a folder from "
                                                "`asr export --format onnx`)"]


def test_a_killed_model_process_is_started_again(served):
    import os
    import signal

    url, app, heldout = served
    engine = app.state.serve.models["digits"].engine
    old = engine._proc.pid
    os.kill(old, signal.SIGKILL)  # out of memory, an operator, a crash in a native library
    engine._proc.join(timeout=10)
    wav, text = heldout[0]
    assert client(url).audio.transcriptions.create(model="digits", file=Path(wav)).text == text
    assert engine._proc.pid != old and engine._proc.is_alive()


def test_models_show_each_model_files_card(served):
    """OpenAI's model object, with the model file's card beside its fields (the client keeps extra fields)."""
    url, _, _ = served
    r = httpx.get(f"{url}/v1/models/digits", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "object", "owned_by")} == {"id": "digits", "object": "model", "owned_by": "asr"}
    card = body["card"]
    assert card["vocabulary"] == {"kind": "word", "size": 14} and card["parameters"] > 1_000_000
    assert {"corpora", "results", "recipe", "code", "date", "calibration"} <= set(card)
    [listed] = client(url).models.list().data
    assert listed.id == "digits" and listed.model_extra["card"] == card
