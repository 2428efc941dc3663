"""What `asr serve` is asked to do: torch-free, so `asr --help` reads the defaults without importing the model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    max_batch: int = 16  # segments decoded together, from any requests
    max_wait_ms: float = 20.0  # how long the oldest waiting segment waits for others to share its batch
    api_key: str | None = None  # when set, /v1/* needs `Authorization: Bearer <key>`
    max_upload_mb: float = 100.0
    max_queue: int = 64  # requests in flight at once; more are answered 503
    max_attention_s: float = 30.0  # longest recording /v1/audio/attention draws
    max_streams: int = 16  # live WebSocket streams open at once; more are refused
    max_stream_s: float = 3600.0  # seconds of audio one stream may send
    stream_idle_s: float = 30.0  # a stream that sends nothing for this long is closed
