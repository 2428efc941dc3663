"""One upload on its way through a served model: opened and cut into segments, its segments fed to the model's
batcher, their results collected in order. The same pipeline `asr transcribe` runs (`Transcriber.plan`,
`Transcriber.decode_jobs`, `Transcriber.assemble`), with the batch shared between requests.

    work = Work(served, request_id, path, name, opts)
    work.open()                 # in a thread: reads the file once (levels, segments); UserError if unusable
    work.feed()                 # in a thread: submits segments one by one (blocks when this request has a
                                # batch's worth waiting)
    async for seg in work.results(): ...   # in order, each as soon as it is decoded
    transcript = work.transcript()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path

from asr.audio import open_audio
from asr.inference.options import TranscribeOptions
from asr.inference.results import SegmentResult, Transcript
from asr.inference.transcriber import InFlight, Job, Plan, Transcriber
from asr.serve.batcher import Batcher
from asr.serve.engine import ModelProcess


@dataclass
class ServedModel:
    """A model behind the server: its transcriber (here: opening and cutting uploads, assembling answers), the
    process that runs its network, the options requests start from, and its batcher (which feeds that process)."""

    name: str
    transcriber: Transcriber
    engine: ModelProcess
    defaults: TranscribeOptions
    batcher: Batcher[Job, SegmentResult]
    created: int  # the model file's mtime, for /v1/models
    language: str = "en"


class Work:
    def __init__(self, served: ServedModel, request: int, path: Path, name: str, opts: TranscribeOptions) -> None:
        self.served, self.request, self.path, self.opts = served, request, path, opts
        self.flight = InFlight(name, time.perf_counter())
        self.plan: Plan | None = None
        self.futures: list[Future] = []

    def open(self) -> None:
        """The batcher was told to `expect` this request when it arrived; `feed` (or the request's end) says
        when nothing more comes."""
        self.plan = self.served.transcriber.plan(0, self.flight.name, lambda: open_audio(self.path),
                                                 self.opts.segments)
        self.flight.duration, self.flight.count = self.plan.src.duration, len(self.plan.segments)
        self.futures = [Future() for _ in self.plan.segments]

    def feed(self) -> None:
        """Submit every segment; an error reading one ends the request with it."""
        assert self.plan is not None
        try:
            with self.plan.src:
                for job in self.plan.jobs():
                    self.served.batcher.submit(self.request, job, self.opts, self.opts, self.futures[job.index])
        except BaseException as e:  # noqa: BLE001 - handed to the request through its futures
            for f in self.futures:
                if not f.done():
                    with contextlib.suppress(InvalidStateError):
                        f.set_exception(e)
        finally:
            self.served.batcher.fed(self.request)

    async def results(self) -> AsyncIterator[SegmentResult]:
        for i, f in enumerate(self.futures):
            result = await asyncio.wrap_future(f)
            self.flight.results[i] = result
            yield result

    def transcript(self) -> Transcript:
        return self.served.transcriber.assemble(self.flight)
