"""`asr fit --config R --print-plan [overrides]`: the training plan a recipe gives on this machine (or on
`--trainer.devices N --trainer.num_nodes M`), before any GPU time is spent: audio per optimiser step, the derived
gradient accumulation, steps per epoch, warmup, total steps and the learning-rate path.

The recipe is read as `asr fit` reads it (conf/trainer/defaults.yaml, then each --config, then --a.b value
overrides) without building the trainer, so a GPU recipe can be planned on a laptop. The epoch's audio is summed
from the training manifests; before they are prepared, `--train-hours H` stands in for them.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from asr.errors import UserError
from asr.data.batch_plan import plan_batches
from asr.training.plan import describe, training_plan
from asr.training.schedules import OptimConfig


def merged_config(args: list[str], defaults: Path) -> dict[str, Any]:
    """defaults, then every --config file, then dotted overrides, merged as nested dicts."""
    cfg: dict[str, Any] = _read(defaults)
    it = iter(args)
    for a in it:
        flag, eq, value = a.partition("=")
        if not flag.startswith("--") and flag != "-c":
            continue
        if not eq:
            value = next(it, "")
        if flag in ("--config", "-c"):
            _merge(cfg, _read(Path(value)))
        else:
            _set(cfg, flag[2:].split("."), yaml.safe_load(value) if value else None)
    return cfg


def world_size(trainer: dict[str, Any]) -> tuple[int, str]:
    """(devices x nodes, a note on how the device count was found)."""
    devices, nodes = trainer.get("devices", "auto"), int(trainer.get("num_nodes") or 1)
    if isinstance(devices, (list, tuple)):
        return len(devices) * nodes, ""
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if isinstance(devices, int) and devices > 0:
        return devices * nodes, ""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda", "auto"):
        import torch

        n = torch.cuda.device_count()
        if n:
            return n * nodes, f"devices {devices}: the {n} GPU(s) visible here"
        if accelerator != "auto":
            return nodes, (f"devices {devices}: no GPU is visible here, so planned for 1 per node; pass "
                           "--trainer.devices N to plan for N")
    return nodes, ""


def train_seconds(data: dict[str, Any], hours: float | None) -> tuple[float, str]:
    """Audio in one epoch: the manifests' cuts within the duration limits, times repeats and speed copies."""
    copies = len(data.get("speed_copies") or [1.0])
    if hours is not None:
        return hours * 3600 * copies, f"--train-hours {hours:g}" + (f" x {copies} speed copies" if copies > 1 else "")
    from asr.data.manifests import load_cuts

    paths = data.get("train_manifests") or []
    paths = [paths] if isinstance(paths, str) else list(paths)
    repeats = data.get("train_repeats") or [1] * len(paths)
    lo, hi = float(data.get("min_utt_duration", 0.1)), float(data.get("max_utt_duration") or float("inf"))
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        raise UserError(f"the training manifests are not prepared yet ({', '.join(missing) or 'none set'}); pass "
                        "--train-hours H (e.g. 100.6 for LibriSpeech train-clean-100) to plan without them")
    total = sum(r * sum(c.duration for c in load_cuts(p) if lo <= c.duration <= hi) for p, r in zip(paths, repeats))
    return total * copies, f"{len(paths)} manifest(s)" + (f" x {copies} speed copies" if copies > 1 else "")


def plan_lines(args: list[str], defaults: Path, hours: float | None) -> list[str]:
    cfg = merged_config(args, defaults)
    trainer, data = cfg.get("trainer") or {}, cfg.get("data") or {}
    optim_d = ((cfg.get("model") or {}).get("optim")) or {}
    known = {f.name for f in fields(OptimConfig)}
    optim = OptimConfig(**{k: v for k, v in optim_d.items() if k in known})
    world, note = world_size(trainer)
    max_duration = float(data.get("max_duration", 120.0))
    per_step = data.get("audio_per_step")
    accumulate = int(trainer.get("accumulate_grad_batches") or 1)
    lines = [note] if note else []
    if per_step:
        batches = plan_batches(float(per_step), max_duration, world)
    else:
        batches = plan_batches(max_duration * world * accumulate, max_duration, world)
        lines.append("note: no data.audio_per_step: the audio per step grows with the number of devices "
                     "(max_duration x devices x accumulate_grad_batches)")
    seconds, source = train_seconds(data, hours)
    plan = training_plan(batches, seconds, int(trainer.get("max_epochs") or 0), optim,
                         int(trainer.get("max_steps") or -1))
    return lines + [f"epoch audio from {source}"] + describe(plan)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"--config {path}: no such file")
    return yaml.safe_load(path.read_text()) or {}


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        key = k.rstrip("+")
        if isinstance(v, dict) and isinstance(into.get(key), dict):
            _merge(into[key], v)
        else:
            into[key] = v


def _set(cfg: dict[str, Any], keys: list[str], value: Any) -> None:
    for k in keys[:-1]:
        if not isinstance(cfg.get(k), dict):
            cfg[k] = {}
        cfg = cfg[k]
    cfg[keys[-1]] = value
