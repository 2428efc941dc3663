"""asr: attention-based speech recognition.

    import asr
    model = asr.load_model("exp/demo/model.pt")
    print(model.transcribe("audio.wav").text)
    for t in model.transcribe(["a.wav", "b.flac"], beam=8):   # several files share batches
        print(t.source, t.text)

Shape legend used in every docstring and comment:
    B batch, S samples, T frames (10 ms log-mel), T' encoder frames (after subsampling), U tokens,
    F mel bins, D model dim, H heads, V vocab (specials included).

Data flow: file -> waveform (B, S) -> log-mel (B, T, F) -> encoder states (B, T', D) -> decoder with
cross-attention over them -> token ids (B, U) -> text.

The layers, bottom up (a module imports only from the layers below its own, and the modules of one layer import
none of each other; `lint-imports` checks it, pyproject.toml's [tool.importlinter]): errors -> text, hardware,
allocator, resources -> audio, tokenizer, features -> model -> lm, runtime -> decoding -> data -> corpora,
metrics, bleu, plots
-> inference -> training -> demo, bench, serve -> commands -> cli.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr.decoding.options import DecodeOptions
    from asr.inference.options import SegmentOptions, TranscribeOptions
    from asr.inference.results import SegmentResult, Transcript, Word
    from asr.inference.transcriber import Transcriber, load_model

# name -> module; imported on first use: torch takes seconds to import, and `asr --help` must not pay for it.
_API = {
    "load_model": "asr.inference.transcriber", "Transcriber": "asr.inference.transcriber",
    "Transcript": "asr.inference.results", "SegmentResult": "asr.inference.results", "Word": "asr.inference.results",
    "TranscribeOptions": "asr.inference.options", "SegmentOptions": "asr.inference.options",
    "DecodeOptions": "asr.decoding.options",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'asr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
