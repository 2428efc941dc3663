"""`asr serve`: an OpenAI-compatible transcription server over the batched pipeline, and a page to talk to it.

    options.py  ServeOptions (torch-free, for the command line)
    schema.py   OpenAI's form fields, answers and error shape
    upload.py   the multipart upload, read with a size limit
    batcher.py  dynamic batching: segments of concurrent requests share encoder and search batches
    engine.py   the network in a process of its own (the search's GIL apart from the HTTP side's)
    work.py     one upload through a served model (open, cut, feed the batcher, collect in order)
    stream.py   live recognition over a WebSocket (WeNet's protocol), each stream's audio through the batcher
    app.py      create_app(models, options) -> FastAPI: the routes
    static/     the page (`GET /`): upload, record or live, words with times and confidences, the attention picture
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from asr.serve.options import ServeOptions

if TYPE_CHECKING:
    from asr.inference.options import TranscribeOptions
    from asr.serve.app import create_app
    from asr.serve.work import ServedModel

__all__ = ["ServeOptions", "ServedModel", "create_app", "serve_models"]
_LAZY = {"create_app": "asr.serve.app", "ServedModel": "asr.serve.work"}  # torch and FastAPI on first use


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asr.serve' has no attribute {name!r}")


def serve_models(models: dict[str, str | Path], options: ServeOptions = ServeOptions(),  # noqa: B008
                 defaults: dict[str, TranscribeOptions] | None = None, device: str = "cpu",
                 threads: int = 1, backend: str = "auto", compile: bool = False) -> list[ServedModel]:
    """Start a model process for each `name -> model file` (`threads` torch threads there) and give it a
    batcher; `defaults[name]` are the options its requests start from (the LM / n-gram files it fuses, decoding
    settings), else TranscribeOptions(). Raises UserError for a file that can't be served."""
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model
    from asr.serve.batcher import Batcher
    from asr.serve.engine import ModelProcess
    from asr.serve.work import ServedModel

    out: list[ServedModel] = []
    try:
        for name, path in models.items():
            t = load_model(path, "cpu", backend)  # here only for its rate, segmenting and assembling answers
            engine = ModelProcess(path, device, threads, name, compile)
            base = (defaults or {}).get(name, TranscribeOptions())
            out.append(ServedModel(name, t, engine, base, Batcher(engine.decode_jobs, options.max_batch,
                                                                  options.max_wait_ms, name=f"batcher-{name}"),
                                   int(Path(path).stat().st_mtime), str(t.meta.get("language", "en"))))
            engine.check(base)  # its LMs load now: a bad file is an error at start, not on the first request
    except BaseException:
        for m in out:
            m.batcher.close()
            m.engine.close()
        raise
    return out
