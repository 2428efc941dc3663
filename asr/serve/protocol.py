"""Live recognition over a WebSocket, in WeNet's runtime protocol (wenet runtime/core/websocket/websocket_server.cc):
`/v1/audio/stream`, and `/` for WeNet's own clients (a WebSocket there does not touch the page's `GET /`).

    client                                   server
    {"signal": "start", "nbest": 1,      ->
     "continuous_decoding": true}        <-  {"status": "ok", "type": "server_ready"}
    binary frames: PCM16 little-endian,  ->
    mono, 16 kHz (100 ms each is usual)  <-  {"status": "ok", "type": "partial_result",
                                              "nbest": "[{\"sentence\": ...}]"}
                                         <-  {"status": "ok", "type": "final_result",
                                              "nbest": "[{\"sentence\": ..., \"word_pieces\": [...]}]"}
    {"signal": "end"}                    ->  the last final_result, then {"status": "ok", "type": "speech_end"};
                                             the server closes the connection

`nbest` is a JSON string (as WeNet sends it) holding one hypothesis. A partial_result is the text so far of the
segment being heard (it may still change); a final_result comes at each endpoint the recogniser finds, with its
word pieces: word, start and end in ms from the stream's start, and (ours) confidence; the hypothesis also
carries the segment's start and end (ours). With "continuous_decoding": false the first final_result ends the
stream (speech_end, closed). Ours in the start signal: "chunk_ms" (the recogniser's chunk), "hotwords" (phrases
to bias towards: a list, or one a line, optionally ' : BONUS'), "model" (a served model's name; default the first)
and "api_key" (browsers cannot set an Authorization header on a WebSocket). Unknown keys are ignored.

Anything wrong (a text frame that is not JSON, audio before start, an odd byte count, an unknown signal, a limit
passed, a model not served) is answered `{"status": "failed", "message": "..."}` and the connection closed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000  # the protocol's, as WeNet's runtime takes it
READY = {"status": "ok", "type": "server_ready"}
SPEECH_END = {"status": "ok", "type": "speech_end"}
HOW = ('send {"signal": "start"}, then the audio as binary frames (PCM16 little-endian, mono, 16 kHz), then '
       '{"signal": "end"}')


class Failed(Exception):
    """Answered `{"status": "failed", "message": ...}`; then the connection is closed."""


@dataclass(frozen=True)
class Start:
    """The start signal's settings, checked."""

    continuous: bool = True
    chunk_ms: int | None = None
    hotwords: tuple[str, ...] = ()
    model: str | None = None
    api_key: str | None = None

    @classmethod
    def parse(cls, signal: dict) -> Start:
        field_of(signal, "nbest", int, "a whole number, 1 or more", 1)  # checked as WeNet does; one hypothesis is sent
        hotwords = signal.get("hotwords") or ()
        if isinstance(hotwords, str):
            hotwords = hotwords.splitlines()
        if not isinstance(hotwords, list | tuple) or not all(isinstance(h, str) for h in hotwords):
            raise Failed(f'"hotwords" in the start signal must be a list of phrases or one string with a phrase a '
                         f'line, got {json.dumps(signal.get("hotwords"))}')
        return cls(continuous=field_of(signal, "continuous_decoding", bool, "true or false") is not False,
                   chunk_ms=field_of(signal, "chunk_ms", int, "a whole number of milliseconds (0: full context)", 0),
                   hotwords=tuple(h.strip() for h in hotwords if h.strip()),
                   model=field_of(signal, "model", str, "a served model's name"),
                   api_key=field_of(signal, "api_key", str, "a string"))


def field_of(signal: dict, key: str, kind: type, what: str, at_least: int | None = None) -> Any:
    """signal[key] if it is a `kind` (and at least `at_least`), None if it is missing; else Failed."""
    value = signal.get(key)
    if value is None:
        return None
    if (isinstance(value, bool) != (kind is bool) or not isinstance(value, kind)  # True is an int to Python
            or (at_least is not None and value < at_least)):
        raise Failed(f'"{key}" in the start signal must be {what}, got {json.dumps(value)}')
    return value


def parse_signal(text: str) -> dict:
    """A text frame -> its JSON object, whose "signal" is "start" or "end"."""
    try:
        signal = json.loads(text)
    except ValueError:
        raise Failed(f"a text frame must be JSON, such as {{\"signal\": \"start\"}}; got {text[:60]!r}") from None
    if not isinstance(signal, dict) or not isinstance(signal.get("signal"), str):
        raise Failed(f'a text frame must be a JSON object with a "signal"; {HOW}')
    if signal["signal"] not in ("start", "end"):
        raise Failed(f'unknown signal {signal["signal"]!r}; {HOW}')
    return signal


def pcm16(data: bytes) -> np.ndarray:
    """A binary frame -> (S,) float32 in [-1, 1)."""
    if len(data) % 2:
        raise Failed(f"a binary frame must hold whole 16-bit samples (PCM16 little-endian, mono, 16 kHz); this one "
                     f"has {len(data)} bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def result_message(event: Any) -> dict:
    """A StreamEvent (asr.inference.streaming) -> partial_result or final_result, times in ms as WeNet sends them."""
    best: dict[str, Any] = {"sentence": event.text}
    if event.final:
        best["word_pieces"] = [{"word": w.word, "start": ms(w.start), "end": ms(w.end),
                                "confidence": round(w.confidence, 4)} for w in event.words]
        best["start"], best["end"] = ms(event.start), ms(event.end)
    return {"status": "ok", "type": "final_result" if event.final else "partial_result", "nbest": json.dumps([best])}


def ms(seconds: float) -> int:
    return round(seconds * 1000)
