"""The model in a process of its own, so the HTTP side and the search never wait on each other's GIL.

The beam search is Python between small tensor ops: in the server's process it held the GIL for most of each
batch, and the event loop (parsing uploads, answering) and the search took turns on one core. With the model
here, the server's batcher thread only sends a batch down a pipe and waits (no GIL held), and the search runs
on its own interpreter. `asr bench serve` on 2 cores, demo model, 16 clients, batching on: 84 requests/s with
the model in the server's process, 112-152 with it here (the same run's one-client rate: 30-33).

    engine = ModelProcess("exp/demo/model.pt", device="cpu", threads=1)
    results = engine.decode_jobs(jobs, opts)       # Transcriber.decode_jobs, over there
    png, text = engine.attention_png("talk.wav", "talk.wav", title, opts)
    engine.stream_open(7, chunk_ms=640)            # a live stream (Transcriber.stream), kept over there by id
    events = engine.stream_accept(7, samples)      # Stream.accept: its StreamEvents
    events = engine.stream_finish(7)               # Stream.finish, and the stream is gone
    engine.close()

One call at a time (the batcher is the only caller); a worker that dies (killed, out of memory) fails the
batch it had and is started again for the next one, without the streams it held (their next call says so).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from asr.errors import UserError
from asr.inference.options import TranscribeOptions
from asr.inference.results import SegmentResult

START_TIMEOUT_S = 300.0


class Streams:
    """The live streams of one model (`Transcriber.stream`) by id: the state a connection's calls share, kept
    where the model is."""

    def __init__(self, transcriber: Any) -> None:
        self.transcriber = transcriber
        self.open: dict[int, Any] = {}

    def __call__(self, op: str, sid: int, *args: Any) -> Any:
        if op == "open":
            self.open[sid] = self.transcriber.stream(**args[0])
            return None
        if op == "close":
            self.open.pop(sid, None)
            return None
        stream = self.open.get(sid)
        if stream is None:
            raise UserError("this stream was lost (the model process was restarted); open a new stream")
        if op == "accept":
            return stream.accept(args[0])
        if op == "finish":
            del self.open[sid]
            return stream.finish()
        raise ValueError(f"unknown stream operation {op!r}")


class ModelProcess:
    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 1, name: str = "model",
                 compile: bool = False) -> None:
        self.path, self.device, self.threads, self.name = str(path), device, threads, name
        self.compile = compile  # torch.compile the encoder in the model process
        self._lock = threading.Lock()
        self._conn = None
        self._proc = None
        self._start()

    def decode_jobs(self, jobs: list, opts: TranscribeOptions) -> list[SegmentResult]:
        return self._call("decode", jobs, opts)

    def check(self, opts: TranscribeOptions) -> None:
        """Load what `opts` fuses (LM, n-gram) now: a bad file is a UserError at start, not on a request."""
        self._call("check", opts)

    def attention_png(self, path: str | Path, name: str, title: str, opts: TranscribeOptions) -> tuple[bytes, str]:
        """The attention picture (PNG) of the recording at `path` (called `name` in messages) and the transcript
        it shows, recognised with `opts` as a transcription request would recognise it (`Transcriber.attention_maps`)."""
        return self._call("attention", str(path), name, title, opts)

    def stream_open(self, sid: int, **options: Any) -> None:
        """Open stream `sid`: `Transcriber.stream(**options)` over there."""
        self._call("stream", "open", sid, options)

    def stream_accept(self, sid: int, samples: np.ndarray) -> list:
        """(S,) float32 at the model's rate -> the StreamEvents it brings."""
        return self._call("stream", "accept", sid, samples)

    def stream_finish(self, sid: int) -> list:
        """The end of stream `sid`'s input -> its last StreamEvents; the stream is closed."""
        return self._call("stream", "finish", sid)

    def stream_close(self, sid: int) -> None:
        """Drop stream `sid` unfinished (its client has gone); nothing if it is not open."""
        self._call("stream", "close", sid)

    def close(self) -> None:
        with self._lock:
            if self._proc is None:
                return
            try:
                self._conn.send(("stop",))
            except (OSError, EOFError):
                pass
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(timeout=5)
            self._conn.close()
            self._proc = None

    # ---- internals ------------------------------------------------------------------------------------
    def _start(self) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no fork of a process with threads and torch state
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, args=(child, self.path, self.device, self.threads, self.compile),
                                 name=f"asr-model-{self.name}", daemon=True)
        self._proc.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT_S):
            self._proc.terminate()
            raise UserError(f"the model process for {self.path} did not start within {START_TIMEOUT_S:g} s")
        kind, value = self._conn.recv()
        if kind == "error":
            self._proc.join(timeout=5)
            raise value

    def _call(self, *message: Any) -> Any:
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._start()
            try:
                self._conn.send(message)
                kind, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._proc.exitcode if self._proc is not None else None
                self._proc = None  # started again on the next call
                raise RuntimeError(f"the model process stopped (exit code {code}) while decoding; it is being "
                                   "restarted") from None
        if kind == "error":
            raise value
        return value


def _worker(conn, path: str, device: str, threads: int, compile: bool = False) -> None:
    """The model process's loop: load, say ready, answer messages until "stop" or the pipe closes."""
    import torch

    torch.set_num_threads(threads)
    try:
        from asr.inference.transcriber import load_model

        model = load_model(path, device, compile=compile)
    except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it
        conn.send(("error", _picklable(e)))
        return
    conn.send(("ready", None))
    streams = Streams(model)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "stop":
            return
        try:
            conn.send(("ok", streams(*message[1:]) if message[0] == "stream" else _handle(model, *message)))
        except BaseException as e:  # noqa: BLE001 - the request fails, the worker goes on
            conn.send(("error", _picklable(e)))


def _handle(model, kind: str, *args: Any) -> Any:
    if kind == "decode":
        jobs, opts = args
        return model.decode_jobs(jobs, opts)
    if kind == "check":
        model.fusion(args[0])
        return None
    if kind == "attention":
        from asr.audio import open_audio
        from asr.plots import save_png

        path, name, title, opts = args
        fd, out = tempfile.mkstemp(suffix=".png")
        os.close(fd)
        try:
            maps = model.attention_maps(name, lambda: open_audio(path), opts)
            save_png(maps, out, title=title)
            return Path(out).read_bytes(), maps.text
        finally:
            os.unlink(out)
    raise ValueError(f"unknown message {kind!r}")


def _picklable(e: BaseException) -> BaseException:
    """UserErrors travel as they are (their message is the answer); anything else as a RuntimeError naming it."""
    if isinstance(e, UserError):
        return UserError(str(e))
    return RuntimeError(f"{type(e).__name__}: {e}")
