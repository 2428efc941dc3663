"""The server's dynamic batcher on its own: what it puts in a batch, and when."""

from __future__ import annotations

import threading
import time

import pytest

from asr.serve.batcher import Batcher

pytestmark = pytest.mark.timeout(60)


def recording_batcher(**kw):
    seen: list[list[str]] = []

    def decode(jobs, options):
        seen.append(list(jobs))
        return [f"{options}:{j}" for j in jobs]

    return Batcher(decode, **kw), seen


def test_a_long_request_interleaves_with_short_ones():
    b, seen = recording_batcher(max_batch=4, max_wait_ms=1000, per_request=8)
    b.hold()
    long = [b.submit(1, f"L{i}", "o", "o") for i in range(8)]
    short = [b.submit(2, "S0", "o", "o"), b.submit(3, "T0", "o", "o")]
    b.hold(False)
    assert [f.result(timeout=5) for f in short] == ["o:S0", "o:T0"]
    assert [f.result(timeout=5) for f in long] == [f"o:L{i}" for i in range(8)]
    b.close()
    assert seen[0] == ["L0", "S0", "T0", "L1"]  # round-robin, oldest request first: the short ones go at once
    assert seen[1:] == [["L2", "L3", "L4", "L5"], ["L6", "L7"]]
    assert [r.requests for r in b.batches][0] == ((1, 2), (2, 1), (3, 1))


def test_only_equal_options_share_a_batch():
    b, seen = recording_batcher(max_batch=8, max_wait_ms=1000)
    b.hold()
    futures = [b.submit(1, "a", "beam4", ("beam", 4)), b.submit(2, "b", "beam8", ("beam", 8)),
               b.submit(3, "c", "beam4", ("beam", 4))]
    b.hold(False)
    assert [f.result(timeout=5) for f in futures] == ["beam4:a", "beam8:b", "beam4:c"]
    b.close()
    assert sorted(map(sorted, seen)) == [["a", "c"], ["b"]]


def test_a_batch_waits_for_company_only_while_some_is_coming():
    b, seen = recording_batcher(max_batch=3, max_wait_ms=300)
    started = time.monotonic()
    b.submit(1, "x", "o", "o").result(timeout=5)
    assert time.monotonic() - started < 0.2  # nobody else on the way: no wait
    b.expect(2)  # a request being read
    started = time.monotonic()
    b.submit(3, "y", "o", "o").result(timeout=5)
    assert 0.3 <= time.monotonic() - started < 2.0  # waited max_wait for it, then went without it
    b.expect(4)
    f = b.submit(5, "z", "o", "o")
    time.sleep(0.05)
    g = b.submit(4, "w", "o", "o")  # it came within max_wait: they share the batch
    b.fed(4)
    f.result(timeout=5), g.result(timeout=5)
    b.fed(2)
    b.close()
    assert seen == [["x"], ["y"], ["z", "w"]]


def test_a_request_blocks_beyond_per_request_waiting_jobs():
    b, _ = recording_batcher(max_batch=2, max_wait_ms=0, per_request=2)
    b.hold()
    b.submit(1, "a", "o", "o"), b.submit(1, "b", "o", "o")
    third = threading.Thread(target=lambda: b.submit(1, "c", "o", "o"))
    third.start()
    third.join(0.3)
    assert third.is_alive() and b.waiting == 2  # the producer waits: memory stays bounded
    b.hold(False)
    third.join(5)
    assert not third.is_alive()
    b.close()


def test_a_failing_batch_fails_its_requests_and_the_worker_goes_on():
    calls = []

    def decode(jobs, options):
        calls.append(jobs)
        if "bad" in jobs:
            raise ValueError("boom")
        return jobs

    b = Batcher(decode, max_batch=1, max_wait_ms=0)
    with pytest.raises(ValueError, match="boom"):
        b.submit(1, "bad", "o", "o").result(timeout=5)
    assert b.submit(2, "good", "o", "o").result(timeout=5) == "good"
    cancelled = b.submit(3, "gone", "o", "o")
    cancelled.cancel()  # a request whose client hung up: skipped, and it does not stop the worker
    assert b.submit(4, "next", "o", "o").result(timeout=5) == "next"
    assert b.call(lambda: 42).result(timeout=5) == 42
    b.close()


def test_after_a_batch_its_clients_get_a_moment_to_come_back():
    b, seen = recording_batcher(max_batch=8, max_wait_ms=400)
    b.hold()
    first = [b.submit(1, "a", "o", "o"), b.submit(2, "b", "o", "o")]
    b.hold(False)
    [f.result(timeout=5) for f in first]  # a batch that answered two requests
    b.expect(3)
    c = b.submit(3, "c", "o", "o")  # one is back: not alone yet, the other may come
    time.sleep(0.05)
    assert not c.done()
    b.expect(4)
    d = b.submit(4, "d", "o", "o")
    b.fed(3), b.fed(4)
    c.result(timeout=5), d.result(timeout=5)
    assert seen[-1] == ["c", "d"]  # together, not one by one
    b.expect(5)
    started = time.monotonic()
    e = b.submit(5, "e", "o", "o")
    b.fed(5)  # all of it is in, as the server says once a request's last segment is submitted
    e.result(timeout=5)  # the other client of [c, d] never came back: max_wait/2, then alone
    assert 0.15 <= time.monotonic() - started < 1.0
    b.expect(6)  # a lone client, back after its answer: not kept waiting
    started = time.monotonic()
    b.submit(6, "f", "o", "o").result(timeout=5)
    assert time.monotonic() - started < 0.15
    b.close()
