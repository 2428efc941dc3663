"""asr: attention-based speech recognition.

    import asr
    model = asr.load_model("exp/demo/model.pt")
    print(model.transcribe("audio.wav").text)

Shape legend used in every docstring and comment:
    B batch, S samples, T frames (10 ms log-mel), T' encoder frames (after subsampling), U tokens,
    F mel bins, D model dim, H heads, V vocab (specials included).

Data flow: file -> waveform (B, S) -> log-mel (B, T, F) -> encoder states (B, T', D) -> decoder with
cross-attention over them -> token ids (B, U) -> text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr.api import Model, Transcript, load_model

__all__ = ["Model", "Transcript", "load_model"]


def __getattr__(name: str):
    # Imported on first use: torch takes seconds to import, and `asr --help` must not pay for it.
    if name in __all__:
        from asr import api

        return getattr(api, name)
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
