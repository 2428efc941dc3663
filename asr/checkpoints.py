"""Training checkpoints -> inference files: export one, or average several (weights only).

A Lightning checkpoint holds the model config and tokenizer (see `ASRTask.on_save_checkpoint`), so exporting
needs no data and no Lightning.
"""

from __future__ import annotations

from pathlib import Path

import torch

from asr.errors import UserError
from asr.model import ASRModel, ModelConfig
from asr.model.io import save_model
from asr.tokenizer import tokenizer_from_state


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}; checkpoints are written under <run>/checkpoints/ by `asr fit`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"cannot read checkpoint {path}: {e}") from None
    if "asr_tokenizer" not in ckpt or "state_dict" not in ckpt:
        raise UserError(f"{path} is not a checkpoint written by `asr fit` (no tokenizer inside)")
    return ckpt


def net_state(ckpt: dict) -> dict[str, torch.Tensor]:
    """The ASRModel weights of a Lightning checkpoint (keys without the task's `net.` prefix)."""
    return {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors; integer buffers are taken from the last state."""
    if not states:
        raise UserError("no checkpoints to average")
    out = {}
    for k, v in states[-1].items():
        if v.is_floating_point():
            out[k] = sum(s[k].double() for s in states).div(len(states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def export(ckpt_paths: list[str | Path], out: str | Path) -> ASRModel:
    """Average the weights of `ckpt_paths` (one path: no averaging) and write a model file to `out`."""
    ckpts = [read_checkpoint(p) for p in ckpt_paths]
    first = ckpts[0]
    tokenizer = tokenizer_from_state(first["asr_tokenizer"])
    cfg = ModelConfig.from_dict(first["asr_model_config"])
    model = ASRModel(cfg)
    model.load_state_dict(average_states([net_state(c) for c in ckpts]))
    meta = {
        "checkpoints": [str(p) for p in ckpt_paths],
        "epoch": int(first.get("epoch", -1)),
        "global_step": int(first.get("global_step", -1)),
    }
    save_model(out, model.eval(), tokenizer, meta)
    return model
