"""The self-contained model file: weights, model config, tokenizer and CMVN statistics (buffers) in one
`torch.save` of plain tensors, dicts, lists, strings and numbers, so it loads with `weights_only=True`
(no unpickling of code).
"""

from __future__ import annotations

from pathlib import Path

import torch

from asr.errors import UserError, brief
from asr.model.asr_model import ASRModel
from asr.model.config import ModelConfig
from asr.tokenizer import Tokenizer, tokenizer_from_state

FORMAT = "asr-model/1"


def save_model(path: str | Path, model: ASRModel, tokenizer: Tokenizer, meta: dict | None = None) -> None:
    """Write `model` + `tokenizer` to `path`; `meta` is free-form JSON-like info (training data, WER, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {
        "format": FORMAT,
        "config": model.cfg.to_dict(),
        "tokenizer": tokenizer.state(),
        "state_dict": state,
        "meta": meta or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)  # never leave a half-written model file behind


def load_model_file(path: str | Path, device: str | torch.device = "cpu") -> tuple[ASRModel, Tokenizer, dict]:
    """-> (model in eval mode on `device`, tokenizer, meta). Raises UserError for a missing or foreign file."""
    blob = read_blob(path, FORMAT, "model", "train one with `asr fit` and `asr export`, or run `make demo`",
                     "`asr export`")
    tokenizer = tokenizer_from_state(blob["tokenizer"])
    model = ASRModel(ModelConfig.from_dict(blob["config"]))
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), tokenizer, blob.get("meta", {})


def read_blob(path: str | Path, fmt: str, kind: str, how_to_make: str, writer: str) -> dict:
    """The dict a self-contained file (`fmt`: "asr-model/1", "asr-lm/1") holds, read with weights_only=True.
    UserError, naming `kind` and how to make one, for a missing, unreadable or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{kind} file not found: {path}; {how_to_make}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise UserError(f"cannot read {kind} file {path} ({brief(e)}); is it a file written by {writer}?") from None
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        raise UserError(f"{path} is not an asr {kind} file (expected format {fmt}); write one with {writer}")
    return blob
