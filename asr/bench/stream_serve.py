"""`asr bench stream-serve`: N concurrent live streams over `asr serve`'s WebSocket (`/v1/audio/stream`, WeNet's
protocol), each sending its audio in 100 ms PCM16 frames at the pace it was spoken.

The server runs as its own process (`asr serve`, as deployed) on loopback; the clients are asyncio tasks here.
Per level of concurrency: the final latency (the last final_result's arrival after the client sent "end": a
server that cannot keep up with N streams has a backlog of audio then, and it grows with the audio), the
partial_results each stream got before its end, and the share of streams whose final came within 1 s of the end.
"Real time" means every stream keeps pace: finals within a second of the end, for every stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np

from asr.bench.common import progress
from asr.errors import UserError

FRAME_S = 0.1


def run(args: argparse.Namespace) -> list[dict]:
    from asr.audio import find_audio, load_audio
    from asr.bench.serve import levels, serve_process
    from asr.hardware import serve_threads

    files, problems = find_audio(args.audio)
    if problems or not files:
        raise UserError(f"--audio: {'; '.join(problems) or 'no audio found'}")
    clients = levels(args.clients)
    pcm = [_pcm16(load_audio(f)) for f in files[: max(clients)]]
    threads = args.threads or serve_threads()
    records = []
    with serve_process(Path(args.model), 16, 20.0, threads) as url:
        ws = url.replace("http://", "ws://") + "/v1/audio/stream"
        asyncio.run(_level(ws, pcm[:1], args.chunk_ms))  # warm-up
        for n in clients:
            progress(f"{n} concurrent stream(s) of {FRAME_S * 1000:g} ms frames in real time")
            rows = asyncio.run(_level(ws, [pcm[i % len(pcm)] for i in range(n)], args.chunk_ms))
            finals = [r["final_s"] for r in rows]
            records.append({
                "bench": "stream-serve", "model": args.model, "threads": threads, "clients": n,
                "chunk_ms": args.chunk_ms, "audio_s": round(sum(r["audio_s"] for r in rows), 1),
                "final_ms_p50": round(1000 * statistics.median(finals), 1),
                "final_ms_max": round(1000 * max(finals), 1),
                "partials_per_stream_p50": statistics.median(r["partials"] for r in rows),
                "finals_within_1s": sum(f <= 1.0 for f in finals) / len(finals),
            })
    return records


def _pcm16(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()


async def _level(url: str, pcms: list[bytes], chunk_ms: int | None) -> list[dict]:
    return list(await asyncio.gather(*[_client(url, pcm, chunk_ms) for pcm in pcms]))


async def _client(url: str, pcm: bytes, chunk_ms: int | None) -> dict:
    """One live stream: frames at the pace of speech; the arrival of every answer against the audio sent."""
    import websockets

    frame = int(FRAME_S * 16000) * 2
    partials, final_at, end_at = 0, None, None
    async with websockets.connect(url, max_size=None) as ws:
        start = {"signal": "start", "nbest": 1, "continuous_decoding": True}
        await ws.send(json.dumps(start | ({"chunk_ms": chunk_ms} if chunk_ms else {})))
        _check(json.loads(await ws.recv()), "server_ready")
        t0 = time.perf_counter()

        async def receive() -> None:
            nonlocal final_at, partials
            async for message in ws:
                m = json.loads(message)
                now = time.perf_counter() - t0
                if m.get("type") == "partial_result" and end_at is None:
                    partials += 1
                elif m.get("type") == "final_result":
                    final_at = now
                elif m.get("type") == "speech_end":
                    return
                elif m.get("status") != "ok":
                    raise UserError(f"the server answered {m}")

        listener = asyncio.create_task(receive())
        for i in range(0, len(pcm), frame):
            await ws.send(pcm[i : i + frame])
            await asyncio.sleep(max(0.0, min(i + frame, len(pcm)) / 32000 - (time.perf_counter() - t0)))
        end_at = time.perf_counter() - t0
        await ws.send(json.dumps({"signal": "end"}))
        await asyncio.wait_for(listener, timeout=120)
    return {"audio_s": len(pcm) / 32000, "partials": partials, "final_s": (final_at or end_at) - end_at}


def _check(m: dict, kind: str) -> None:
    if m.get("type") != kind:
        raise UserError(f"expected {kind} from the server, got {m}")
