"""What every `asr bench` measurement shares: model arguments, thread count, timing, memory, JSON output.

A measurement is one dict printed as one JSON line (and appended to `--json FILE`). Timings are the median of
`--steps` runs after `--warmup` untimed ones, so one-off costs (allocator growth, lazy init) stay out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field, fields
from typing import Callable

import torch
import yaml

from asr.allocator import keeping_freed_memory
from asr.bench.args import MODEL_FLAGS
from asr.errors import UserError, brief
from asr.hardware import cpu_model, native_bf16_cpu
from asr.model import ModelConfig

def model_config(args: argparse.Namespace) -> ModelConfig:
    """--size's YAML with the explicit flags on top; dropout stays as configured (training-mode cost)."""
    from asr.resources import resource

    path = resource(f"conf/model/{args.size}.yaml")
    values = yaml.safe_load(path.read_text())
    for flag, field in MODEL_FLAGS.items():
        if getattr(args, flag) is not None:
            values[field] = getattr(args, flag)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item}: expected KEY=VALUE, e.g. --set pos_enc=rel")
        values[key] = yaml.safe_load(value)
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"{path} or --set: unknown model keys {unknown}")
    try:
        cfg = ModelConfig.from_dict({**values, "vocab_size": args.vocab})
    except ValueError as e:  # a value the config refuses, e.g. --set pos_enc=rope
        raise UserError(str(e)) from None
    if cfg.d_model % cfg.heads:
        raise UserError(f"--d-model {cfg.d_model} is not divisible by --heads {cfg.heads}")
    return cfg


def setup(args: argparse.Namespace) -> torch.device:
    """Apply --threads and --device and check the numeric flags a user can get wrong."""
    for name in ("steps", "threads", "batch", "frames", "tokens", "matmul"):  # those this benchmark has
        if getattr(args, name, 1) < 1:
            raise UserError(f"--{name} must be at least 1")
    if getattr(args, "warmup", 0) < 0:
        raise UserError("--warmup must be 0 or more")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible; use --device cpu")
    return device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timings:
    """Per timed run: wall-clock seconds, and CPU seconds of this process (all its threads). On a busy machine
    wall time grows with other processes' load while single-thread CPU time barely does."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def add(self, fn: Callable[[], object], device: torch.device) -> None:
        sync(device)
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        self.wall.append(time.perf_counter() - w0)
        self.cpu.append(time.process_time() - c0)

    def summary(self, name: str) -> dict:
        """{name}_median, {name}_min (wall) and cpu_s_median, rounded for the JSON line."""
        return {f"{name}_median": round(self.median, 6), f"{name}_min": round(min(self.wall), 6),
                "cpu_s_median": round(statistics.median(self.cpu), 6), "steps": len(self.wall)}


def time_runs(fn: Callable[[], object], steps: int, warmup: int, device: torch.device) -> Timings:
    """Run fn warmup + steps times; the timings of the last `steps`."""
    for _ in range(warmup):
        fn()
    timings = Timings()
    for _ in range(steps):
        timings.add(fn, device)
    return timings


def time_pair(eager: Callable[[], object], compiled: Callable[[], object], steps: int, warmup: int,
              device: torch.device) -> tuple[Timings, Timings, float]:
    """`eager` and `compiled` timed taking turns (a busy spell hits both alike) -> their timings and the seconds
    the compiled one's first call took beyond eager's (compilation)."""
    t = time.perf_counter()
    eager()
    sync(device)
    first_eager = time.perf_counter() - t
    t = time.perf_counter()
    compiled()
    sync(device)
    compile_s = time.perf_counter() - t - first_eager
    for _ in range(warmup):
        eager(), compiled()
    a, b = Timings(), Timings()
    for _ in range(steps):
        a.add(eager, device)
        b.add(compiled, device)
    return a, b, compile_s


def run_timed(args: argparse.Namespace, prepare: Callable, record: Callable) -> dict | list[dict]:
    """A benchmark's run: `prepare(args, device[, compiled=True])` -> (step, parameters), timed, and `record(args,
    device, impl, parameters, timings)` -> its JSON record; with --compile eager and compiled take turns (two
    records, the compiled one with its speed-up and compilation time)."""
    device = setup(args)
    step, params = prepare(args, device)
    if not args.compile:
        return record(args, device, "asr", params, time_runs(step, args.steps, args.warmup, device))
    compiled, _ = prepare(args, device, compiled=True)
    try:
        eager_t, compiled_t, compile_s = time_pair(step, compiled, args.steps, args.warmup, device)
    except Exception as e:  # noqa: BLE001 - torch.compile's own failures: one line, not its 200-line stack
        raise UserError(f"torch.compile failed on this model and machine ({brief(e)}); time it without --compile"
                        ) from None
    rec = record(args, device, "asr+compile", params, compiled_t)
    rec.update(compile_s=round(compile_s, 1), speedup=round(eager_t.median / compiled_t.median, 3))
    return [record(args, device, "asr", params, eager_t), rec]


def compile_network(model: torch.nn.Module) -> torch.nn.Module:
    """torch.compile the encoder and decoder in place (PyTorch's default: shapes marked dynamic once they change).
    Training steps under it fail in torch 2.11's CPU inductor (LoweringException "torch.bool is not supported by
    torch.iinfo"; with dynamic=True "cannot determine truth value of Relational"): the benchmark says so."""
    model.encoder.compile()
    model.decoder.compile()
    return model


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_record(args: argparse.Namespace, kind: str, device: torch.device, impl: str = "asr") -> dict:
    rec = {"bench": kind, "impl": impl, "threads": args.threads, "device": str(device), "dtype": args.dtype}
    rec["machine"] = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    rec["cpus"] = os.cpu_count()
    if device.type == "cpu":
        rec["native_bf16"] = native_bf16_cpu()  # AVX512-BF16 or AMX: bf16 matmuls ~4x fp32 (asr/hardware.py)
    # Other processes skew CPU timings (two threads suffer most): the record says how busy the machine was.
    rec["load_avg_1m"] = round(os.getloadavg()[0], 2)
    rec["keep_freed_memory"] = keeping_freed_memory()  # glibc malloc keeps freed memory (asr/allocator.py)
    if getattr(args, "set", None):
        rec["set"] = args.set
    return rec


def emit(record: dict, json_file: str | None) -> None:
    """One JSON line on stdout, and appended to json_file when given."""
    line = json.dumps(record, sort_keys=False)
    print(line, flush=True)
    if json_file:
        with open(json_file, "a") as f:
            f.write(line + "\n")


def autocast(device: torch.device, dtype: str):
    """bf16 autocast when asked; fp32 otherwise (a disabled autocast costs nothing)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
