"""Live recognition over a WebSocket (`/v1/audio/stream`, WeNet's protocol: asr/serve/stream.py) through a real
uvicorn on a loopback port and the `websockets` client, with a fake recogniser in place of `Transcriber.stream`
(FakeStream below: its text is the count and the sum of the PCM16 values it heard, so a wrong byte order, a lost
frame or another stream's audio shows in the text); and the page's live mode in headless Chromium through
tools/serve_screenshot.py --live, on the same fake.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import soundfile as sf

websockets = pytest.importorskip("websockets")
from serve_util import running  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from asr.inference.options import TranscribeOptions  # noqa: E402
from asr.inference.results import Word  # noqa: E402
from asr.model.config import ModelConfig  # noqa: E402
from asr.serve import ServeOptions, create_app  # noqa: E402
from asr.serve.batcher import Batcher  # noqa: E402
from asr.serve.engine import Streams  # noqa: E402
from asr.serve.work import ServedModel  # noqa: E402

pytestmark = pytest.mark.timeout(120)
SR = 16_000
BLOCK = SR // 2  # the fake hears in half seconds
WAIT_S = 10.0
ROOT = Path(__file__).resolve().parents[1]
START = {"signal": "start", "nbest": 1, "continuous_decoding": True}


# ---- the fake recogniser ----------------------------------------------------------------------------------------
@dataclass
class Event:  # asr.inference.streaming.StreamEvent's fields
    final: bool
    text: str
    words: list[Word] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0


class FakeStream:
    """Hears in half-second blocks: a block with sound opens or extends a segment and says "<N> samples" (a
    partial); an all-zero block after sound is an endpoint: the final "<N> samples sum <sum of the PCM16 values>".
    `finish` counts what is left and ends with a final when a segment is open."""

    def __init__(self, owner: FakeTranscriber) -> None:
        self.owner = owner
        self.buf = np.zeros(0, np.int64)
        self.pos = 0  # samples heard
        self.seg: list[int] | None = None  # [start sample, samples, sum]

    def accept(self, samples: np.ndarray) -> list[Event]:
        self.owner.entered.set()
        assert self.owner.gate.wait(60), "the test never opened the gate"
        assert samples.dtype == np.float32 and samples.ndim == 1
        self.buf = np.concatenate([self.buf, np.round(samples * 32768).astype(np.int64)])
        events = []
        while len(self.buf) >= BLOCK:
            block, self.buf = self.buf[:BLOCK], self.buf[BLOCK:]
            if block.any():
                self._hear(block)
                events.append(Event(False, f"{self.seg[1]} samples"))
            else:
                if self.seg is not None:
                    events.append(self._final())
                self.pos += len(block)
        return events

    def finish(self) -> list[Event]:
        if self.buf.any() or self.seg is not None:
            self._hear(self.buf)
            return [self._final()]
        return []

    def _hear(self, block: np.ndarray) -> None:
        if self.seg is None:
            self.seg = [self.pos, 0, 0]
        self.seg[1] += len(block)
        self.seg[2] += int(block.sum())
        self.pos += len(block)

    def _final(self) -> Event:
        start, n, total = self.seg
        self.seg = None
        return Event(True, f"{n} samples sum {total}", [Word("samples", start / SR, self.pos / SR, 0.9)],
                     start / SR, self.pos / SR)


class FakeTranscriber:
    """What the server's side needs of a Transcriber, with `stream()` making FakeStreams."""

    sample_rate = SR
    net = SimpleNamespace(cfg=ModelConfig())  # a transcribing model's config: its card says "task: transcribe"
    tokenizer = None
    meta = {"card": {"vocabulary": {"kind": "fake", "size": 0}, "parameters": 1}}  # for GET /v1/models

    def __init__(self) -> None:
        self.gate = threading.Event()  # cleared: accept() waits (a slow model)
        self.gate.set()
        self.entered = threading.Event()
        self.opened: list[dict] = []  # the options of each stream() call

    def stream(self, **options) -> FakeStream:
        self.opened.append(options)
        return FakeStream(self)


class FakeEngine:
    """ModelProcess's stream calls, run here on engine.Streams (the model process's own bookkeeping)."""

    def __init__(self, transcriber: FakeTranscriber) -> None:
        self.streams = Streams(transcriber)

    def stream_open(self, sid, **options):
        return self.streams("open", sid, options)

    def stream_accept(self, sid, samples):
        return self.streams("accept", sid, samples)

    def stream_finish(self, sid):
        return self.streams("finish", sid)

    def stream_close(self, sid):
        return self.streams("close", sid)

    def decode_jobs(self, jobs, opts):
        raise AssertionError("no uploads in these tests")

    def close(self) -> None:
        pass


@contextlib.contextmanager
def serve_fake(**options):
    """(base ws:// URL, app, fake transcriber, fake engine) while the block runs."""
    t = FakeTranscriber()
    engine = FakeEngine(t)
    opts = ServeOptions(**options)
    served = ServedModel("fake", t, engine, TranscribeOptions(), Batcher(engine.decode_jobs, name="batcher-fake"), 0)
    app = create_app([served], opts)
    with running(app, max_requests=200) as url:
        yield url.replace("http://", "ws://"), app, t, engine


@pytest.fixture(scope="module")
def server():
    with serve_fake(stream_idle_s=20) as s:
        yield s


# ---- the client's side ------------------------------------------------------------------------------------------
def noise(seconds: float, seed: int) -> np.ndarray:
    """int16 samples, none of them zero (every block has sound)."""
    x = np.random.default_rng(seed).integers(1, 8000, int(seconds * SR)) * np.where(
        np.random.default_rng(seed + 1).random(int(seconds * SR)) < 0.5, -1, 1)
    return x.astype(np.int16)


def frames(pcm: np.ndarray, ms: int = 100) -> list[bytes]:
    step = SR * ms // 1000
    return [pcm[i:i + step].astype("<i2").tobytes() for i in range(0, len(pcm), step)]


def final_text(pcm: np.ndarray) -> str:
    return f"{len(pcm)} samples sum {int(pcm.astype(np.int64).sum())}"


def recv(ws) -> dict:
    return json.loads(ws.recv(timeout=WAIT_S))


def best(message: dict) -> dict:
    [hyp] = json.loads(message["nbest"])  # a JSON string in the message, as WeNet sends it
    return hyp


def until_closed(ws) -> list[dict]:
    """Every message left, until the server closes the connection."""
    out = []
    with contextlib.suppress(ConnectionClosed):
        while True:
            out.append(recv(ws))
    return out


@contextlib.contextmanager
def started(url: str, path: str = "/v1/audio/stream", **start):
    """A connection whose stream has started (server_ready received)."""
    with connect(url + path, open_timeout=WAIT_S, close_timeout=2) as ws:
        ws.send(json.dumps({**START, **start}))
        assert recv(ws) == {"status": "ok", "type": "server_ready"}
        yield ws


def failure(url: str, *messages, start: dict | None = None) -> str:
    """Send `messages` (after a start signal when `start` is given); -> the failure's message. The server closes
    the connection after it."""
    with connect(url + "/v1/audio/stream", open_timeout=WAIT_S, close_timeout=2) as ws:
        if start is not None:
            ws.send(json.dumps({**START, **start}))
            assert recv(ws)["type"] == "server_ready"
        with contextlib.suppress(ConnectionClosed):  # the server may close before it has read them all
            for m in messages:
                ws.send(m)
        answer = recv(ws)
        while answer.get("type") == "partial_result":  # audio heard before what is wrong with it
            answer = recv(ws)
        assert set(answer) == {"status", "message"} and answer["status"] == "failed", answer
        assert until_closed(ws) == []
        return answer["message"]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# ---- the protocol -----------------------------------------------------------------------------------------------
def test_partials_come_while_streaming_then_the_final_and_speech_end(server, tmp_path):
    url, app, _, engine = server
    wav = tmp_path / "talk.wav"
    sf.write(wav, noise(2.3, seed=1), SR, subtype="PCM_16")
    pcm, _ = sf.read(wav, dtype="int16")
    with started(url) as ws:
        for f in frames(pcm):
            ws.send(f)
        # Every partial arrives before the client has said "end": recognised while streaming.
        partials = [recv(ws) for _ in range(4)]
        assert [m["type"] for m in partials] == ["partial_result"] * 4
        assert [best(m) for m in partials] == [{"sentence": f"{n} samples"} for n in (8000, 16000, 24000, 32000)]
        assert app.state.live.open == 1 and len(engine.streams.open) == 1
        ws.send(json.dumps({"signal": "end"}))
        final, end = until_closed(ws)  # then the server closes
    assert final["status"] == "ok" and final["type"] == "final_result"
    assert best(final) == {"sentence": final_text(pcm), "start": 0, "end": 2300,
                           "word_pieces": [{"word": "samples", "start": 0, "end": 2300, "confidence": 0.9}]}
    assert end == {"status": "ok", "type": "speech_end"}
    wait_for(lambda: app.state.live.open == 0, "the stream was not counted out")
    assert engine.streams.open == {}  # finished in the model's bookkeeping


def test_wenets_root_path_and_the_page_share_slash(server):
    url, _, _, _ = server
    pcm = noise(0.7, seed=2)
    with started(url, "/") as ws:
        for f in frames(pcm, ms=250):
            ws.send(f)
        ws.send(json.dumps({"signal": "end"}))
        messages = until_closed(ws)
    assert [m["type"] for m in messages] == ["partial_result", "final_result", "speech_end"]
    assert best(messages[1])["sentence"] == final_text(pcm)
    page = httpx.get(url.replace("ws://", "http://") + "/")
    assert page.status_code == 200 and 'id="live"' in page.text


def test_continuous_decoding_sends_a_final_per_endpoint_and_false_stops_at_the_first(server):
    url, _, t, engine = server
    one, two = noise(1.0, seed=3), noise(0.5, seed=4)
    pcm = np.concatenate([one, np.zeros(SR, np.int16), two])  # sound, 1 s of silence (an endpoint), sound
    with started(url, chunk_ms=320, hotwords=["one two"], unknown_key={"ignored": True}) as ws:
        assert t.opened[-1] == {"chunk_ms": 320, "hotwords": ("one two",)}
        for f in frames(pcm):
            ws.send(f)
        ws.send(json.dumps({"signal": "end"}))
        messages = until_closed(ws)
    assert [(m["type"], best(m)["sentence"]) for m in messages[:-1]] == [
        ("partial_result", "8000 samples"), ("partial_result", "16000 samples"),
        ("final_result", final_text(one)),
        ("partial_result", "8000 samples"),  # a new segment: its first partial is sent again
        ("final_result", final_text(two))]
    assert (best(messages[2])["start"], best(messages[2])["end"]) == (0, 1000)
    assert (best(messages[4])["start"], best(messages[4])["end"]) == (2000, 2500)  # times from the stream's start
    assert messages[-1]["type"] == "speech_end"

    with started(url, continuous_decoding=False) as ws:
        with contextlib.suppress(ConnectionClosed):  # the server may close before the last frames are sent
            for f in frames(pcm):
                ws.send(f)
        messages = until_closed(ws)  # no "end" sent: the first endpoint ends the stream
    assert [m["type"] for m in messages] == ["partial_result", "partial_result", "final_result", "speech_end"]
    assert best(messages[2])["sentence"] == final_text(one)
    wait_for(lambda: engine.streams.open == {}, "the stream stopped at its endpoint was not closed")


def test_errors_say_what_is_wrong_and_the_server_goes_on(server):
    url, app, _, _ = server
    m = failure(url, "hello")
    assert "must be JSON" in m and "hello" in m
    m = failure(url, b"\x01\x00" * 800)
    assert "audio came before the start signal" in m and '"signal": "start"' in m
    m = failure(url, b"\x01\x00\x02", start={})
    assert "whole 16-bit samples" in m and "3 bytes" in m
    m = failure(url, json.dumps({"signal": "pause"}), start={})
    assert "unknown signal 'pause'" in m and '"signal": "end"' in m
    m = failure(url, json.dumps({"signal": "end"}))
    assert "has not started" in m
    m = failure(url, json.dumps(START), start={})
    assert "already started" in m
    m = failure(url, json.dumps([1, 2]))
    assert 'a JSON object with a "signal"' in m
    m = failure(url, json.dumps({**START, "nbest": "one"}))
    assert '"nbest" in the start signal must be a whole number, 1 or more, got "one"' in m
    assert "got 0" in failure(url, json.dumps({**START, "nbest": 0}))
    m = failure(url, json.dumps({**START, "continuous_decoding": 1}))
    assert '"continuous_decoding"' in m and "true or false" in m
    m = failure(url, json.dumps({**START, "chunk_ms": -640}))
    assert '"chunk_ms" in the start signal must be a whole number of milliseconds' in m and "-640" in m
    m = failure(url, json.dumps({**START, "model": "whisper-1"}))
    assert "'whisper-1' is not served" in m and "fake" in m
    m = failure(url, json.dumps({**START, "hotwords": ["!!!"]}))
    assert "no words" in m
    wait_for(lambda: app.state.live.open == 0, "failed streams were not counted out")
    pcm = noise(0.6, seed=5)  # and the next stream is served as ever
    with started(url) as ws:
        for f in frames(pcm):
            ws.send(f)
        ws.send(json.dumps({"signal": "end"}))
        assert [best(m)["sentence"] for m in until_closed(ws)[:-1]] == ["8000 samples", final_text(pcm)]


def test_a_stream_lost_in_the_model_process_says_so():
    streams = Streams(FakeTranscriber())
    streams("open", 1, {})
    streams("close", 1)
    streams("close", 1)  # closing twice is nothing
    with pytest.raises(Exception, match="this stream was lost .* open a new stream"):
        streams("accept", 1, np.zeros(10, np.float32))


def test_a_call_after_the_batcher_closed_fails_at_once():
    """A stream dropped while the server shuts down must not wait for ever on a batcher that has stopped."""
    b = Batcher(lambda jobs, options: jobs)
    b.close()
    with pytest.raises(RuntimeError, match="shutting down"):
        b.call(lambda: 1).result(timeout=1)


def test_limits_idle_length_streams_and_key():
    with serve_fake(stream_idle_s=0.5, max_stream_s=1.0, max_streams=1, api_key="sesame") as (url, app, _, _):
        key = {"api_key": "sesame"}
        m = failure(url, json.dumps(START))
        assert "no API key was given" in m and "api_key" in m
        assert "not the server's" in failure(url, json.dumps({**START, "api_key": "open"}))
        started_at = time.monotonic()
        m = failure(url, start=key)  # then silence
        assert "nothing came for 0.5 s" in m and time.monotonic() - started_at < 5
        m = failure(url, *frames(noise(1.2, seed=6)), start=key)
        assert "more than 1 s of audio" in m
        wait_for(lambda: app.state.live.open == 0, "not counted out")
        with started(url, **key):
            assert "1 live streams open, its limit" in failure(url, json.dumps({**START, **key}))
        wait_for(lambda: app.state.live.open == 0, "a closed stream was not counted out")
        with connect(url + "/v1/audio/stream", additional_headers={"Authorization": "Bearer sesame"},
                     open_timeout=WAIT_S) as ws:  # the header does as well as the start signal's key
            ws.send(json.dumps(START))
            assert recv(ws)["type"] == "server_ready"


def test_a_client_that_vanishes_mid_stream_does_not_disturb_another(server):
    url, app, _, engine = server
    pcm_a, pcm_b = noise(3.0, seed=7), noise(3.0, seed=8)
    fa, fb = frames(pcm_a), frames(pcm_b)
    with started(url) as a, started(url) as b:
        for x, y in zip(fa[:15], fb[:15]):  # interleaved, as two microphones would send
            a.send(x)
            b.send(y)
        assert best(recv(a))["sentence"] == "8000 samples" and best(recv(b))["sentence"] == "8000 samples"
        assert app.state.live.open == 2
        a.socket.close()  # gone without a close frame, mid-stream: a crash, a lost network
        for y in fb[15:]:
            b.send(y)
        b.send(json.dumps({"signal": "end"}))
        messages = until_closed(b)
    assert messages[-1]["type"] == "speech_end"
    finals = [best(m)["sentence"] for m in messages if m["type"] == "final_result"]
    assert finals == [final_text(pcm_b)]  # b's own audio, all of it, none of a's
    wait_for(lambda: app.state.live.open == 0 and engine.streams.open == {}, "a's stream was not dropped")


def test_recognition_runs_off_the_event_loop(server):
    url, app, t, _ = server
    http = url.replace("ws://", "http://")
    pcm = noise(1.0, seed=9)
    t.entered.clear()
    t.gate.clear()  # the recogniser is stuck in accept(): the server must still answer
    with started(url) as ws:
        try:
            for f in frames(pcm):
                ws.send(f)
            assert t.entered.wait(WAIT_S)
            began = time.perf_counter()
            health = httpx.get(f"{http}/health", timeout=5).json()
            assert time.perf_counter() - began < 1.0 and health["streams"] == 1
        finally:
            t.gate.set()
        ws.send(json.dumps({"signal": "end"}))
        assert [best(m)["sentence"] for m in until_closed(ws)[:-1]] == ["8000 samples", "16000 samples",
                                                                         final_text(pcm)]


# ---- the real recogniser ---------------------------------------------------------------------------------------
@pytest.mark.timeout(300)
@pytest.mark.parametrize("which", ["digits_model", "streaming_digits_model"])
def test_the_digit_model_streams_through_the_server_as_it_does_in_the_library(which, request):
    """The real `Transcriber.stream` in the model process: the finals the server sends are the library's own
    stream's on the same samples (the server cuts them into other pieces), word times included; with full context
    (the offline digit model) and chunk by chunk (the one trained with dynamic chunks, 640 ms chunks)."""
    import asr
    from asr.serve import serve_models

    path, heldout = request.getfixturevalue(which)
    pcm = np.concatenate([sf.read(w, dtype="int16")[0] for w, _ in heldout[:2]])
    library = asr.load_model(path).stream()
    events = library.accept(pcm.astype(np.float32) / 32768) + library.finish()
    expected = [(e.text, [(w.word, round(w.start * 1000), round(w.end * 1000)) for w in e.words])
                for e in events if e.final]
    assert expected and all(text for text, _ in expected)
    opts = ServeOptions()
    with running(create_app(serve_models({"digits": path}, opts), opts)) as url, \
            started(url.replace("http://", "ws://")) as ws:
        for f in frames(pcm):
            ws.send(f)
        ws.send(json.dumps({"signal": "end"}))
        messages = until_closed(ws)
    assert messages[-1] == {"status": "ok", "type": "speech_end"} and messages[-2]["type"] == "final_result"
    assert {m["type"] for m in messages[:-1]} <= {"partial_result", "final_result"}
    finals = [best(m) for m in messages if m["type"] == "final_result"]
    assert [(b["sentence"], [(p["word"], p["start"], p["end"]) for p in b["word_pieces"]]) for b in finals] == expected


# ---- the page's live mode, through the screenshot tool --------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver (Debian's)")
@pytest.mark.timeout(180)
def test_the_pages_live_mode_shows_partials_then_finals(tmp_path):
    pytest.importorskip("selenium")
    spec = importlib.util.spec_from_file_location("serve_screenshot", ROOT / "tools" / "serve_screenshot.py")
    tool = sys.modules["serve_screenshot"] = importlib.util.module_from_spec(spec)  # its dataclass looks itself up
    spec.loader.exec_module(tool)
    mic = tmp_path / "mic.wav"  # sound all through (no endpoint): one segment, every sample the page sent
    sf.write(mic, noise(3.0, seed=10), SR, subtype="PCM_16")
    out = tmp_path / "live.png"
    with serve_fake() as (url, _, _, _):
        seen = tool.live_screenshot(url.replace("ws://", "http://"), mic, 3.0, out, 1000, 800)
    assert out.stat().st_size > 10_000
    assert len(seen.partials) >= 2, "no partial text showed while the microphone was live"
    assert all(re.fullmatch(r"\d+ samples", p) for p in seen.partials), seen.partials
    m = re.fullmatch(r"(\d+) samples sum -?\d+", seen.final)
    assert m, seen.final
    heard = int(m.group(1)) / SR
    # Every frame the page counted as sent was heard...
    sent = float(re.search(r"([\d.]+) s of audio streamed", seen.status).group(1))
    assert abs(heard - sent) <= 0.1, (heard, seen.status)
    # ...and the page downsampled the browser's capture to 16 kHz: about as many samples as seconds streamed.
    assert 0.7 < heard / seen.seconds < 1.5, (heard, seen.seconds)
