"""The self-contained LM file: weights, LM config and the units it was trained on, in one `torch.save` of plain
tensors, dicts, lists, strings and numbers, so it loads with `weights_only=True` like `model.pt`.

The units are the acoustic model's tokenizer (its `state()`): a search fuses an LM only with a model whose
tokenizer is the same (`check_units`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from asr.errors import UserError
from asr.lm.model import LMConfig, TransformerLM
from asr.model.io import read_blob
from asr.tokenizer import Tokenizer, tokenizer_from_state

FORMAT = "asr-lm/1"


def save_lm(path: str | Path, lm: TransformerLM, tokenizer: Tokenizer, meta: dict | None = None) -> None:
    """Write `lm` and the units it models to `path` (atomically); `meta`: JSON-like facts (text, perplexity)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "config": lm.cfg.to_dict(),
        "tokenizer": tokenizer.state(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in lm.state_dict().items()},
        "meta": meta or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_lm(path: str | Path, device: str | torch.device = "cpu") -> tuple[TransformerLM, Tokenizer, dict]:
    """-> (LM in eval mode on `device`, its tokenizer, meta). Raises UserError for a missing or foreign file."""
    blob = read_blob(path, FORMAT, "LM", "train one with `asr train-lm`", "`asr train-lm`")
    lm = TransformerLM(LMConfig(**blob["config"]))
    lm.load_state_dict(blob["state_dict"])
    return lm.to(device).eval(), tokenizer_from_state(blob["tokenizer"]), blob.get("meta", {})


def load_lm_for(path: str | Path, tokenizer: Tokenizer, device: str | torch.device = "cpu") -> TransformerLM:
    """The LM of `path`, to fuse with a model of `tokenizer`'s units (UserError for an LM of other units)."""
    lm, lm_tokenizer, _ = load_lm(path, device)
    check_units(lm_tokenizer, tokenizer, path)
    return lm


def check_units(lm_tokenizer: Tokenizer, model_tokenizer: Tokenizer, lm_path: str | Path) -> None:
    """An LM scores unit ids: fused with a model of other units it would score nonsense, so refuse."""
    if lm_tokenizer.state() != model_tokenizer.state():
        raise UserError(f"{lm_path} was trained on other units than the model's tokenizer "
                        f"({lm_tokenizer.kind}, {lm_tokenizer.vocab_size} against {model_tokenizer.kind}, "
                        f"{model_tokenizer.vocab_size}); train it with `asr train-lm --units MODEL.pt`")
