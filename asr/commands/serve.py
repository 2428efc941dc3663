"""Usage:
    asr serve --model exp/demo/model.pt                              # http://127.0.0.1:8000, the page at /
    asr serve --model demo=exp/demo/model.pt --model sent=exp/tts-sentences/model.pt --port 9000
    asr serve --model whisper-1=model.pt --api-key "$KEY" --host 0.0.0.0   # a drop-in for OpenAI clients
    asr serve --model model.pt --lm lm.pt --lm-weight 0.3 --beam 8 --max-batch 32 --max-wait-ms 30

OpenAI's `POST /v1/audio/transcriptions` (json, text, srt, vtt, verbose_json; word and segment times; stream),
`GET /v1/models`, `GET /health`, and a page at `/` to upload or record audio. A model is served under NAME
(`--model NAME=PATH`; without it, the file's stem, or its folder's name when the stem is `model`); requests name
it in their `model` field, and one that names none gets the first. Segments of concurrent requests are decoded
together, up to --max-batch at a time, waiting at most --max-wait-ms for company. The decoding flags are the
defaults requests start from; a request sets its own with form fields of the same names (beam, ctc_weight, ...).

The microphone on the page needs a secure context: http://127.0.0.1 or http://localhost, or https elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from asr.commands import add_backend_argument, add_compute_arguments, add_decode_arguments, decode_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asr.serve.options import ServeOptions

    o = ServeOptions()
    parser.add_argument("--model", action="append", required=True, metavar="[NAME=]PATH",
                        help="model file from `asr export` (or a folder from `asr export --format onnx`), served as "
                             "NAME; repeat to serve several")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000, help="(default 8000)")
    parser.add_argument("--max-batch", type=int, default=o.max_batch,
                        help=f"segments decoded together, from any requests; 1 turns batching off "
                             f"(default {o.max_batch})")
    parser.add_argument("--max-wait-ms", type=float, default=o.max_wait_ms,
                        help=f"how long a segment waits for others to fill its batch (default {o.max_wait_ms:g})")
    parser.add_argument("--max-queue", type=int, default=o.max_queue,
                        help=f"requests in flight at once; more get 503 (default {o.max_queue})")
    parser.add_argument("--api-key", default=os.environ.get("ASR_API_KEY"),
                        help="require `Authorization: Bearer KEY` on /v1/* (default: $ASR_API_KEY, else none)")
    parser.add_argument("--max-upload-mb", type=float, default=o.max_upload_mb,
                        help=f"largest upload accepted (default {o.max_upload_mb:g})")
    parser.add_argument("--max-streams", type=int, default=o.max_streams,
                        help=f"live WebSocket streams open at once; more are refused (default {o.max_streams})")
    parser.add_argument("--max-stream-s", type=float, default=o.max_stream_s,
                        help=f"seconds of audio one stream may send (default {o.max_stream_s:g})")
    parser.add_argument("--stream-idle-s", type=float, default=o.stream_idle_s,
                        help=f"a stream silent (no frames) this long is closed (default {o.stream_idle_s:g})")
    add_decode_arguments(parser, batch_help=None)
    add_compute_arguments(parser)
    add_backend_argument(parser)
    parser._option_string_actions["--threads"].help = (  # noqa: SLF001 - the shared flag, its serving default
        "torch threads of each model's process (default: one fewer than the cores, at least 1)")


def model_specs(values: list[str]) -> dict[str, Path]:
    """["demo=exp/demo/model.pt", "x.pt"] -> {"demo": ..., "x": ...}; UserError for a missing file or a name
    given twice."""
    from asr.errors import UserError

    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or "/" in name:
            name, path = "", value
        p = Path(path)
        if not p.is_file() and not (p / "model.json").is_file():
            raise UserError(f"--model {value}: no such file; give a model file from `asr export` (or a folder from "
                            f"`asr export --format onnx`)")
        name = name or (p.parent.name if p.stem == "model" and p.parent.name else p.stem)
        if name in out:
            raise UserError(f"two models are served as {name!r}; name them: --model NAME=PATH")
        out[name] = p
    return out


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from asr.commands import fusion_files
    from asr.errors import UserError
    from asr.hardware import serve_threads
    from asr.inference.options import TranscribeOptions
    from asr.serve import ServeOptions, create_app, serve_models

    for flag in ("max_batch", "max_queue", "port", "max_streams"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.max_wait_ms < 0 or args.max_upload_mb <= 0 or args.max_stream_s <= 0 or args.stream_idle_s <= 0:
        raise UserError("--max-wait-ms must be 0 or more, and --max-upload-mb, --max-stream-s and --stream-idle-s "
                        "above 0")
    specs = model_specs(args.model)
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    threads = args.threads or serve_threads()
    options = ServeOptions(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, api_key=args.api_key or None,
                           max_upload_mb=args.max_upload_mb, max_queue=args.max_queue, max_streams=args.max_streams,
                           max_stream_s=args.max_stream_s, stream_idle_s=args.stream_idle_s)
    base = TranscribeOptions(decode=decode_options(args), precision=args.precision, **fusion_files(args))
    if (args.lm or args.ngram) and len(specs) > 1:
        raise UserError("--lm and --ngram are on one model's units: serve one model with them")
    import torch

    torch.set_num_threads(1)  # this process only reads and cuts uploads; the models run in their own
    models = serve_models(specs, options, {name: base for name in specs}, args.device, threads, args.backend,
                          args.compile)
    app = create_app(models, options)
    for m in models:
        print(f"serving {m.name} ({specs[m.name]}) at http://{args.host}:{args.port}/v1/audio/transcriptions",
              file=sys.stderr)
    print(f"live streams (WebSocket, WeNet's protocol): ws://{args.host}:{args.port}/v1/audio/stream", file=sys.stderr)
    print(f"page: http://{args.host}:{args.port}/   health: http://{args.host}:{args.port}/health", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=10)
    return 0
