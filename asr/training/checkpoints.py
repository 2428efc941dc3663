"""Training checkpoints -> inference files: export one, or average several (weights only).

A Lightning checkpoint holds the model config and tokenizer (see `ASRTask.on_save_checkpoint`), so exporting
needs no data and no Lightning. The model file's card comes from what the run recorded (asr.training.card).
"""

from __future__ import annotations

from pathlib import Path

import torch

from asr.errors import UserError, brief
from asr.model import ASRModel, ModelConfig
from asr.model.io import FORMAT as MODEL_FORMAT
from asr.model.io import save_model
from asr.model.card import ModelCard
from asr.tokenizer import Tokenizer, tokenizer_from_state
from asr.training.card import export_card


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}; checkpoints are written under <run>/checkpoints/ by `asr fit`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"cannot read checkpoint {path} ({brief(e)}); it may be truncated: use another one") from None
    if isinstance(ckpt, dict) and ckpt.get("format") == MODEL_FORMAT:
        raise UserError(f"{path} is already a model file (written by `asr export`), not a training checkpoint; use it "
                        f"as it is, e.g. asr transcribe --model {path} AUDIO")
    if "asr_tokenizer" not in ckpt or "state_dict" not in ckpt:
        raise UserError(f"{path} is not a checkpoint written by `asr fit` (no tokenizer inside)")
    return ckpt


def best_checkpoints(folder: str | Path, k: int) -> list[Path]:
    """The k best checkpoints of a run's checkpoint folder, best first, as Lightning's ModelCheckpoint recorded
    them (`best_k_models`: path -> monitored score) in the folder's newest checkpoint. Recorded paths are matched
    by file name inside `folder`, so a run folder that was moved or copied still works."""
    folder = Path(folder)
    ckpts = sorted(folder.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not ckpts:
        raise UserError(f"no checkpoints (*.ckpt) in {folder}; `asr fit` writes them under <run>/checkpoints/")
    newest = read_checkpoint(ckpts[-1])
    record = next((s for name, s in newest.get("callbacks", {}).items()
                   if name.startswith("ModelCheckpoint") and s.get("best_k_models")), None)
    if record is None:
        raise UserError(f"{ckpts[-1]} holds no record of best scores (its ModelCheckpoint had no `monitor`); "
                        "pass the checkpoint files to average instead of --best")
    scores = {Path(p).name: float(v) for p, v in record["best_k_models"].items()}
    best, kth = record.get("best_model_score"), record.get("kth_value")
    lower_is_better = best is None or kth is None or float(best) <= float(kth)
    ranked = sorted(scores, key=lambda n: scores[n], reverse=not lower_is_better)
    present = [folder / n for n in ranked if (folder / n).is_file()]
    if not present:
        raise UserError(f"none of the recorded best checkpoints ({', '.join(ranked[:3])}, ...) is in {folder}")
    return present[:k]


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
    model, tokenizer, meta, card = from_checkpoints(ckpt_paths)
    save_model(out, model, tokenizer, meta, card)
    return model


def from_checkpoints(ckpt_paths: list[str | Path]) -> tuple[ASRModel, Tokenizer, dict, ModelCard]:
    """The model (eval mode) the average of `ckpt_paths`' weights, its tokenizer, meta and card."""
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
    return model.eval(), tokenizer, meta, export_card(ckpts, ckpt_paths)
