"""Dynamic batching: segments of concurrent requests decoded together, in one worker thread per model.

Requests `submit` their segments one at a time; the worker takes a batch when `max_batch` segments are waiting,
`max_wait_ms` after the oldest one arrived, or at once when no other request is on its way (none `expect`ed whose
segments are not yet waiting): a lone request never waits for company that is not coming. A batch is filled round-robin over the
requests waiting (oldest first), one segment each per turn, so a long upload's segments interleave with short
requests instead of holding them up; only requests with the same decoding options share a batch (the search runs
one set of options). A request may have at most `per_request` segments waiting: its producer blocks beyond that,
so memory is bounded by requests x per_request segments, not by the length of what was uploaded.

All use of the model goes through this thread (`call` runs anything else, such as an attention picture, between
batches), so the network is never run from two threads at once and the event loop never runs it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

J = TypeVar("J")  # a job (a segment)
R = TypeVar("R")  # its result


@dataclass(frozen=True)
class BatchRecord:
    """What one batch held: segments per request id, and how long decoding it took."""

    requests: tuple[tuple[int, int], ...]  # (request id, segments of it in the batch)
    seconds: float

    @property
    def size(self) -> int:
        return sum(n for _, n in self.requests)


@dataclass
class _Waiting(Generic[J]):
    key: Hashable  # decoding options: only equal keys share a batch
    options: Any
    jobs: deque[tuple[J, Future, float]] = field(default_factory=deque)  # (job, its future, when it arrived)


class Batcher(Generic[J, R]):
    """`decode(jobs, options) -> results` (one per job, in order) run on batches of waiting jobs."""

    def __init__(self, decode: Callable[[list[J], Any], list[R]], max_batch: int = 16, max_wait_ms: float = 20.0,
                 per_request: int | None = None, name: str = "batcher", history: int = 10_000) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.decode = decode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.per_request = per_request or max_batch
        self.batches: deque[BatchRecord] = deque(maxlen=history)  # the latest batches, for tests
        self.decoded = [0, 0]  # batches and segments decoded since the start, for /health and benchmarks
        self._waiting: dict[int, _Waiting] = {}  # request id -> its waiting jobs, in arrival order of requests
        self._calls: deque[tuple[Callable[[], Any], Future]] = deque()
        self._coming: set[int] = set()  # requests being read and cut whose segments may still come
        self._cond = threading.Condition()
        self._closed = False
        self._held = False
        self._free = -1e9  # when the worker last finished a batch (monotonic)...
        self._answered = 0  # ...how many requests it finished...
        self._arrived = 0  # ...and how many have been expected since
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- producers --------------------------------------------------------------------------------------
    def submit(self, request: int, job: J, options: Any, key: Hashable, future: Future | None = None) -> Future:
        """Queue one job of `request`; blocks while that request already has `per_request` jobs waiting."""
        future = future or Future()
        with self._cond:
            while not self._closed and len(getattr(self._waiting.get(request), "jobs", ())) >= self.per_request:
                self._cond.wait()
            if self._closed:
                future.set_exception(RuntimeError("the server is shutting down"))
                return future
            self._waiting.setdefault(request, _Waiting(key, options)).jobs.append((job, future, time.monotonic()))
            self._cond.notify_all()
        return future

    def expect(self, request: int) -> None:
        """`request` is being opened and cut: its segments are coming (a batch may wait for them)."""
        with self._cond:
            self._coming.add(request)
            self._arrived += 1

    def fed(self, request: int) -> None:
        """`request` has submitted all it will (or failed): nothing more is coming from it."""
        with self._cond:
            self._coming.discard(request)
            self._cond.notify_all()

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` in the worker thread between batches (anything else that uses the model)."""
        future: Future = Future()
        with self._cond:
            if self._closed:  # the worker has gone: the future would wait for ever
                future.set_exception(RuntimeError("the server is shutting down"))
                return future
            self._calls.append((fn, future))
            self._cond.notify_all()
        return future

    @property
    def waiting(self) -> int:
        with self._cond:
            return sum(len(w.jobs) for w in self._waiting.values())

    def hold(self, held: bool = True) -> None:
        """Stop taking batches (jobs still queue up) until `hold(False)`: for draining a server, and tests."""
        with self._cond:
            self._held = held
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for w in self._waiting.values():
                for _, future, _ in w.jobs:
                    _settle(future, error=RuntimeError("the server is shutting down"))
            self._waiting.clear()
            for _, future in self._calls:
                _settle(future, error=RuntimeError("the server is shutting down"))
            self._calls.clear()
            self._cond.notify_all()
        self._thread.join(timeout=10)

    # ---- the worker ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                task = self._next()
                if task is None:
                    return
            kind, what, arg = task
            if kind == "call":
                _resolve(arg, what)
                continue
            taken, options = what, arg
            if not taken:
                continue
            started = time.perf_counter()
            try:
                results = self.decode([job for _, job, _ in taken], options)
            except BaseException as e:  # noqa: BLE001 - handed to every request in the batch
                for _, _, future in taken:
                    _settle(future, error=e)
            else:
                for (_, _, future), result in zip(taken, results):
                    _settle(future, result)
            counts: dict[int, int] = {}
            for rid, _, _ in taken:
                counts[rid] = counts.get(rid, 0) + 1
            self.batches.append(BatchRecord(tuple(counts.items()), time.perf_counter() - started))
            self.decoded = [self.decoded[0] + 1, self.decoded[1] + len(taken)]
            with self._cond:
                self._free, self._arrived = time.monotonic(), 0
                self._answered = sum(1 for rid in counts if rid not in self._waiting and rid not in self._coming)

    def _next(self):
        """Under the lock: wait for work; -> ("call", fn, future), ("batch", [(request, job, future)], options),
        or None when closed."""
        while True:
            if self._closed:
                return None
            if self._calls:
                return ("call", *self._calls.popleft())
            if self._waiting and not self._held:
                head = min(self._waiting.values(), key=lambda w: w.jobs[0][2])
                ready = sum(len(w.jobs) for w in self._waiting.values() if w.key == head.key)
                now = time.monotonic()
                wait = head.jobs[0][2] + self.max_wait - now
                # Right after a batch, until as many requests have come in as it finished, a waiting request
                # is not alone yet: the clients it answered get max_wait/2 to come back (else a closed loop of
                # N clients splits into groups that take turns, for good). A lone client is back at once.
                grace = self._free + self.max_wait / 2 - now if self._arrived < self._answered else 0.0
                alone = not (self._coming - self._waiting.keys()) and grace <= 0
                if ready >= self.max_batch or wait <= 0 or alone:
                    return "batch", self._take(head), head.options
                self._cond.wait(min(wait, grace) if grace > 0 else wait)
            else:
                self._cond.wait()

    def _take(self, head: _Waiting) -> list[tuple[int, Any, Future]]:
        order = sorted((rid for rid, w in self._waiting.items() if w.key == head.key),
                       key=lambda rid: self._waiting[rid].jobs[0][2])
        taken: list[tuple[int, Any, Future]] = []
        while len(taken) < self.max_batch and order:
            for rid in list(order):
                if len(taken) == self.max_batch:
                    break
                w = self._waiting[rid]
                job, future, _ = w.jobs.popleft()
                if not future.cancelled():  # its request has gone (the client hung up)
                    taken.append((rid, job, future))
                if not w.jobs:
                    del self._waiting[rid]
                    order.remove(rid)
        self._cond.notify_all()  # producers blocked on per_request
        return taken


def _resolve(future: Future, fn: Callable[[], Any]) -> None:
    try:
        result = fn()
    except BaseException as e:  # noqa: BLE001 - the caller gets it
        _settle(future, error=e)
    else:
        _settle(future, result)


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve `future` unless it is already done (cancelled by a request that has gone)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
