"""`asr bench serve`: requests/s and latency of `asr serve` on loopback, with dynamic batching on and off.

The server runs as its own process (`asr serve`, as deployed); N client threads here each send the next request
as soon as their last one is answered (closed loop), `--requests` in all per level, cycling over the `--audio`
files. Per (batching, clients): requests/s, p50/p95 latency and the mean segments per batch the server decoded
(its /health counters). `--size small` serves that config with random weights (a tokenizer of letters), written
to a temporary model file: its searches stop where random scores put <eos>, the same for every run.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from asr.bench.common import progress
from asr.errors import UserError

LETTERS = "abcdefghijklmnopqrstuvwxyz' "


def run(args: argparse.Namespace) -> list[dict]:
    from asr.audio import find_audio

    files, problems = find_audio(args.audio)
    if problems or not files:
        raise UserError(f"--audio: {'; '.join(problems) or 'no audio found'}")
    from asr.hardware import serve_threads

    clients = levels(args.clients)
    threads = args.threads or serve_threads()
    files = files[:: max(1, len(files) // args.requests)][: args.requests]  # spread over the corpus's speakers
    forms = [_multipart(f.name, f.read_bytes()) for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else _random_model(args.size, Path(tmp) / f"{args.size}.pt")
        label = str(args.model) if args.model else f"{args.size} (random weights)"
        records = []
        for batching in (True, False):
            max_batch = args.max_batch if batching else 1
            with serve_process(model, max_batch, args.max_wait_ms, threads) as url:
                conn = _connect(url)  # warm-up: first-call costs stay out
                for form in forms[:4]:
                    _post(conn, form)
                conn.close()
                for n in clients:
                    progress(f"{label}: batching {'on' if batching else 'off'}, {n} client(s), "
                             f"{args.requests} requests")
                    rec = _measure(url, forms, n, args.requests)
                    records.append({"bench": "serve", "model": label, "batching": batching, "max_batch": max_batch,
                                    "max_wait_ms": args.max_wait_ms, "threads": threads, "clients": n, **rec})
    _summarise(records)
    return records


def levels(text: str) -> list[int]:
    """--clients "1,4,16" -> [1, 4, 16]."""
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise UserError(f"--clients takes counts separated by commas (1,4,16), got {text!r}") from None
    if not counts or min(counts) < 1:
        raise UserError("--clients: each count must be at least 1")
    return counts


def _random_model(size: str, path: Path) -> Path:
    import torch
    import yaml

    from asr.model import ASRModel, ModelConfig
    from asr.model.io import save_model
    from asr.resources import resource
    from asr.tokenizer import TableTokenizer

    torch.manual_seed(0)
    tok = TableTokenizer("char", list(LETTERS))
    values = yaml.safe_load(resource(f"conf/model/{size}.yaml").read_text())
    net = ASRModel(ModelConfig.from_dict({**values, "vocab_size": tok.vocab_size}))
    save_model(path, net.eval(), tok, {"note": f"{size} with random weights, for asr bench serve"})
    return path


@contextmanager
def serve_process(model: Path, max_batch: int, max_wait_ms: float, threads: int):
    """`asr serve` in its own process on a free loopback port; yields its URL; stopped at the end."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "asr.cli", "serve", "--model", f"bench={model}", "--port", str(port),
           "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--threads", str(threads),
           "--max-queue", "1024"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise UserError(f"asr serve exited: {proc.stderr.read().strip()[-500:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise UserError("asr serve did not answer /health within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A transcription request's form, encoded once: (body, content type). The clients send these bytes as
    they are, over http.client, so the clients' own cost stays small beside the server's (they share its CPU)."""
    boundary = "asr-bench-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\njson\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _post(conn: http.client.HTTPConnection, form: tuple[bytes, str]) -> float:
    started = time.perf_counter()
    conn.request("POST", "/v1/audio/transcriptions", body=form[0], headers={"Content-Type": form[1]})
    r = conn.getresponse()
    answer = r.read()
    if r.status != 200:
        raise UserError(f"the server answered {r.status}: {answer[:200]!r}")
    return time.perf_counter() - started


def _connect(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=300)


def _measure(url: str, forms: list[tuple[bytes, str]], clients: int, requests: int) -> dict:
    latencies: list[float] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client() -> None:
        conn = _connect(url)  # keep-alive: one connection per client, as an SDK's pool would hold
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None or errors:
                    return
                try:
                    latency = _post(conn, forms[i % len(forms)])
                except BaseException as e:  # noqa: BLE001 - reported after the threads stop
                    errors.append(e)
                    return
                with lock:
                    latencies.append(latency)
        finally:
            conn.close()

    before = httpx.get(f"{url}/health").json()["decoded"]
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    after = httpx.get(f"{url}/health").json()["decoded"]
    batches = sum(a["batches"] - before[k]["batches"] for k, a in after.items())
    segments = sum(a["segments"] - before[k]["segments"] for k, a in after.items())
    q = statistics.quantiles(latencies, n=20, method="inclusive")  # 5% steps: q[9] = p50, q[18] = p95
    return {"requests": len(latencies), "seconds": round(wall, 3), "rps": round(len(latencies) / wall, 3),
            "p50_ms": round(q[9] * 1000, 1), "p95_ms": round(q[18] * 1000, 1),
            "mean_batch": round(segments / batches, 2) if batches else 0.0}


def _summarise(records: list[dict]) -> None:
    """The table, and the issue's two ratios per model: rps at 16 clients / at 1, p95 at 4 / p50 at 1."""
    progress(f"{'model':<28} {'batching':>8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'batch':>6}")
    for r in records:
        progress(f"{r['model']:<28} {'on' if r['batching'] else 'off':>8} {r['clients']:>7} {r['rps']:>8.2f} "
                 f"{r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['mean_batch']:>6.2f}")
    for batching in (True, False):
        rows = {r["clients"]: r for r in records if r["batching"] == batching}
        if 1 in rows and len(rows) > 1:
            top = max(rows)
            line = f"batching {'on' if batching else 'off'}: rps at {top} clients = " \
                   f"{rows[top]['rps'] / rows[1]['rps']:.2f}x one client's"
            if 4 in rows:
                line += f"; p95 at 4 clients = {rows[4]['p95_ms'] / rows[1]['p50_ms']:.2f}x a lone request's p50"
            progress(line)
