"""Live recognition over a WebSocket (`/v1/audio/stream`, and `/` for WeNet's own clients): the connections
and streams. The messages, WeNet's runtime protocol: asr/serve/protocol.py.

A stream's state lives in the model process (engine.Streams) and its audio is recognised in the model's batcher
thread, between batches (`Batcher.call`): the event loop only moves bytes. Audio that arrives while the
recogniser is busy is joined into its next call, so a slow model gets fewer, longer calls instead of a backlog
of frames; with MAX_PENDING_S of it waiting, the socket is read no further until the recogniser catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from starlette.websockets import WebSocket

from asr.errors import UserError
from asr.lm.hotwords import parse_hotwords
from asr.serve.options import ServeOptions
from asr.serve.protocol import HOW, READY, SAMPLE_RATE, SPEECH_END, Failed, Start, parse_signal, pcm16, result_message
from asr.serve.schema import APIError
from asr.serve.work import ServedModel

MAX_PENDING_S = 10.0  # audio received but not yet recognised, per stream, before the socket is read no further


class _Gone(Exception):
    """The client has closed the connection: nothing more to say."""


class LiveStreams:
    """The server's live streams: at most `options.max_streams` open at once, each given its own id.
    `model(name)` is the served model of that name (APIError 404 if none)."""

    def __init__(self, model: Callable[[str | None], ServedModel], options: ServeOptions) -> None:
        self.model, self.options = model, options
        self.open = 0
        self._ids = itertools.count(1)

    async def serve(self, ws: WebSocket) -> None:
        """One connection, from its handshake to its close."""
        await ws.accept()
        conn = _Connection(ws, self.options.stream_idle_s)
        try:
            stream = await self._start(conn)
            self.open += 1
            try:
                await stream.open()
                await conn.send(READY)
                await stream.run()
            finally:
                self.open -= 1
                stream.drop()
        except Failed as e:
            await conn.fail(str(e))
        except _Gone:
            pass
        except Exception as e:  # noqa: BLE001 - as the HTTP side's 500: this stream fails, the server goes on
            await conn.fail(f"the server failed on this stream ({type(e).__name__}: {e}); it keeps serving")
        finally:
            await conn.close()

    async def _start(self, conn: _Connection) -> _Stream:
        frame = await conn.receive()
        if isinstance(frame, bytes):
            raise Failed(f"audio came before the start signal; {HOW}")
        signal = parse_signal(frame)
        if signal["signal"] != "start":
            raise Failed(f"the stream has not started; {HOW}")
        start = Start.parse(signal)
        self._authorise(conn.ws, start)
        try:
            served = self.model(start.model)
        except APIError as e:
            raise Failed(e.message) from None
        if served.transcriber.sample_rate != SAMPLE_RATE:
            raise Failed(f"the model {served.name!r} takes {served.transcriber.sample_rate} Hz audio and this "
                         f"protocol sends {SAMPLE_RATE}; transcribe its audio through /v1/audio/transcriptions")
        if start.hotwords:
            try:
                parse_hotwords(start.hotwords, served.defaults.hotword_bonus)
            except UserError as e:
                raise Failed(str(e)) from None
        if self.open >= self.options.max_streams:
            raise Failed(f"the server has {self.open} live streams open, its limit; retry shortly")
        return _Stream(served, next(self._ids), start, conn, self.options)

    def _authorise(self, ws: WebSocket, start: Start) -> None:
        key = self.options.api_key
        if key is None:
            return
        scheme, _, given = ws.headers.get("authorization", "").partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else (start.api_key or "")
        if not hmac.compare_digest(given.encode(), key.encode()):
            what = "no API key was given" if not given else "the API key is not the server's"
            raise Failed(f'{what}; send `Authorization: Bearer <key>`, or "api_key" in the start signal, with the key '
                         f"given to `asr serve --api-key`")


class _Stream:
    """One connection's stream once started: its audio read and recognised in order, the results sent back."""

    def __init__(self, served: ServedModel, sid: int, start: Start, conn: _Connection, options: ServeOptions) -> None:
        self.served, self.sid, self.start, self.conn = served, sid, start, conn
        self.max_s = options.max_stream_s
        self.received = 0  # samples
        self.finished = False  # finish() was called: the stream is gone over there
        self.partial = ""  # the last partial text sent

    async def open(self) -> None:
        options: dict[str, Any] = {}
        if self.start.chunk_ms is not None:
            options["chunk_ms"] = self.start.chunk_ms
        if self.start.hotwords:
            options["hotwords"] = self.start.hotwords
        await self._call(self.served.engine.stream_open, self.sid, **options)

    def drop(self) -> None:
        """Forget the stream in the model process unless it finished there (its client left, or it failed; a
        stream never opened there is nothing); not waited for: the call runs after any of its own still queued."""
        if not self.finished:
            engine, sid = self.served.engine, self.sid
            self.served.batcher.call(lambda: engine.stream_close(sid))

    async def run(self) -> None:
        """Until speech_end is sent; raises Failed or _Gone."""
        pending = _Pending(int(MAX_PENDING_S * SAMPLE_RATE))
        reading = asyncio.create_task(self._read(pending))
        recognising = asyncio.create_task(self._recognise(pending))
        try:
            done, _ = await asyncio.wait({reading, recognising}, return_when=asyncio.FIRST_COMPLETED)
            if recognising in done:  # an error, or the first final without continuous decoding
                recognising.result()
                return
            reading.result()  # raises what ended the reading early; else the end signal came
            await recognising
        finally:
            for task in (reading, recognising):
                task.cancel()
            await asyncio.gather(reading, recognising, return_exceptions=True)

    async def _read(self, pending: _Pending) -> None:
        while True:
            frame = await self.conn.receive()
            if isinstance(frame, bytes):
                samples = pcm16(frame)
                self.received += len(samples)
                if self.received > self.max_s * SAMPLE_RATE:
                    raise Failed(f"this stream sent more than {self.max_s:g} s of audio, this server's limit for one "
                                 f'stream; send {{"signal": "end"}} before it and start a new stream')
                if len(samples):
                    await pending.put(samples)
            elif parse_signal(frame)["signal"] == "end":
                await pending.end()
                return
            else:
                raise Failed('the stream has already started: send audio, then {"signal": "end"}')

    async def _recognise(self, pending: _Pending) -> None:
        engine = self.served.engine
        while True:
            samples, ended = await pending.take()
            if len(samples) and await self._answer(await self._call(engine.stream_accept, self.sid, samples)):
                return
            if ended:
                self.finished = True  # whatever finish() answers
                if not await self._answer(await self._call(engine.stream_finish, self.sid)):
                    await self.conn.send(SPEECH_END)
                return

    async def _answer(self, events: list) -> bool:
        """Send what `events` say that is new; -> whether the stream is over (a final without continuous
        decoding: speech_end sent)."""
        for event in events:
            if not event.final and event.text in ("", self.partial):
                continue  # nothing to show, or nothing new
            self.partial = "" if event.final else event.text
            await self.conn.send(result_message(event))
            if event.final and not self.start.continuous:
                await self.conn.send(SPEECH_END)
                return True
        return False

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) in the model's batcher thread, between batches."""
        try:
            return await asyncio.wrap_future(self.served.batcher.call(lambda: fn(*args, **kwargs)))
        except UserError as e:
            raise Failed(str(e)) from None
        except Exception as e:  # noqa: BLE001 - the model's error, said to this stream's client
            raise Failed(f"recognition failed ({type(e).__name__}: {e}); start a new stream") from None


class _Pending:
    """Audio received and not yet recognised. `put` waits while `limit` samples or more are waiting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[np.ndarray] = []
        self.samples = 0
        self.ended = False
        self.changed = asyncio.Condition()

    async def put(self, samples: np.ndarray) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.samples < self.limit)
            self.chunks.append(samples)
            self.samples += len(samples)
            self.changed.notify_all()

    async def end(self) -> None:
        async with self.changed:
            self.ended = True
            self.changed.notify_all()

    async def take(self) -> tuple[np.ndarray, bool]:
        """Everything waiting, once there is audio or the end -> ((S,) float32, whether the input has ended)."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.chunks or self.ended)
            samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
            self.chunks, self.samples = [], 0
            self.changed.notify_all()
            return samples, self.ended


class _Connection:
    """The WebSocket, with the idle limit on reading and a client's departure as _Gone."""

    def __init__(self, ws: WebSocket, idle_s: float) -> None:
        self.ws, self.idle_s = ws, idle_s

    async def receive(self) -> str | bytes:
        try:  # not wait_for: in 3.11 it can swallow a cancel that meets a message arriving (gh-86296)
            async with asyncio.timeout(self.idle_s):
                message = await self.ws.receive()
        except TimeoutError:
            raise Failed(f"nothing came for {self.idle_s:g} s, this server's limit; send audio as it is "
                         f'recorded, and {{"signal": "end"}} at the end') from None
        if message["type"] == "websocket.disconnect":
            raise _Gone
        if message.get("bytes") is not None:
            return message["bytes"]
        return message.get("text") or ""

    async def send(self, body: dict) -> None:
        text = json.dumps(body)
        try:
            await self.ws.send_text(text)
        except Exception:  # noqa: BLE001 - disconnected, or closed: the ASGI servers differ in what they raise
            raise _Gone from None

    async def fail(self, message: str) -> None:
        with contextlib.suppress(_Gone):
            await self.send({"status": "failed", "message": message})

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed by the client
            await self.ws.close()
