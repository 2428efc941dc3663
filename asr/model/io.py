"""The self-contained model file: weights, model config, tokenizer and CMVN statistics (buffers) in one
`torch.save` of plain tensors, dicts, lists, strings and numbers, so it loads with `weights_only=True`
(no unpickling of code). Its meta holds the model's card (asr.model.card): training data, vocabulary, results,
recipe, code version, date, parameters.

Usage:
    model, tokenizer, meta = load_model_file("exp/demo/model.pt")
    print(model_card(model, tokenizer, meta).lines())
    save_model("copy.pt", model, tokenizer, meta)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from asr.errors import UserError, brief
from asr.model.asr_model import ASRModel
from asr.model.card import ModelCard
from asr.model.config import ModelConfig
from asr.tokenizer import Tokenizer, tokenizer_from_state

FORMAT = "asr-model/1"


def save_model(path: str | Path, model: ASRModel, tokenizer: Tokenizer, meta: dict | None = None,
               card: ModelCard | None = None) -> None:
    """Write `model` + `tokenizer` to `path`; `meta` is free-form JSON-like info. `card` (default: the one in
    `meta`, else an empty one) is stored in meta["card"] with the vocabulary, parameters, code version and date
    filled in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    card = (card or ModelCard.of(meta)).completed(count_parameters(model), vocabulary(tokenizer))
    blob = {
        "format": FORMAT,
        "config": model.cfg.to_dict(),
        "tokenizer": tokenizer.state(),
        "state_dict": state,
        "meta": {**(meta or {}), "card": card.to_dict()},
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


def model_card(model: ASRModel, tokenizer: Tokenizer, meta: dict) -> ModelCard:
    """The card of a loaded model file; a file written before cards gets its vocabulary and parameters from the
    model itself, and unknowns for the rest."""
    card = ModelCard.of(meta)
    if card.vocabulary is None or card.parameters is None:
        card = replace(card, vocabulary=card.vocabulary or vocabulary(tokenizer),
                       parameters=card.parameters or count_parameters(model))
    return replace(card, task=task_line(model.cfg))


def task_line(cfg) -> str:
    """"transcribe", or "translate into en" for a speech-translation model (its CTC head transcribes the source)."""
    return f"translate into {cfg.target_language}" if cfg.task == "translate" else "transcribe"


def vocabulary(tokenizer: Tokenizer) -> dict:
    return {"kind": tokenizer.kind, "size": tokenizer.vocab_size}


def count_parameters(model: ASRModel) -> int:
    return sum(p.numel() for p in model.parameters())


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
