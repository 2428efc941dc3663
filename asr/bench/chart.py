"""A PNG of the JSON lines that `asr bench ... --json FILE` and tools/bench_speechbrain.py append: one panel per
benchmark, one bar per measurement (the last line wins where the same measurement was repeated).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from asr.errors import UserError  # noqa: E402

# bench -> (value key, axis label, higher is better)
PANELS = {
    "train-step": ("audio_seconds_per_second", "training: audio seconds per second", True),
    "decode": ("rtf", "decoding: real-time factor (lower is better)", False),
    "features": ("audio_seconds_per_second", "log-mel: audio seconds per second", True),
    "peak": ("encoder_gflops", "encoder forward GFLOP/s against the matmul peak in its dtype", True),
}


def label(rec: dict) -> str:
    """What distinguishes one bar from the others in its panel."""
    if rec["bench"] == "features":
        return rec["impl"]
    parts = [rec["impl"], rec.get("size", "")]
    if rec["bench"] == "train-step" and rec.get("subsampling_channels"):
        parts.append(f"conv{rec['subsampling_channels']}")
    if rec["bench"] == "decode":
        parts.append("greedy" if rec["beam"] == 1 else f"beam {rec['beam']}, ctc {rec['ctc_weight']}")
        parts.append(f"B{rec['batch']} x {rec['frames'] / 100:g}s")
    if rec.get("dtype", "fp32") != "fp32" or rec.get("device", "cpu") != "cpu":
        parts.append(f"{rec['device']} {rec['dtype']}")
    return " ".join(p for p in parts if p)


def read(paths: list[Path]) -> list[dict]:
    records: dict[tuple, dict] = {}
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} not found; write it with `asr bench ... --json {path}`")
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{path}:{n} is not a JSON line; remove it") from None
            if rec.get("bench") in PANELS:
                records[(rec["bench"], label(rec), rec.get("threads"))] = rec
    if not records:
        raise UserError(f"no benchmark lines in {', '.join(map(str, paths))}")
    return list(records.values())


def draw(records: list[dict], out: Path, title: str) -> None:
    benches = [b for b in PANELS if any(r["bench"] == b for r in records)]
    fig, axes = plt.subplots(len(benches), 1, figsize=(9, 1.2 + 0.55 * len(records) + 0.6 * len(benches)))
    axes = [axes] if len(benches) == 1 else list(axes)
    for ax, bench in zip(axes, benches):
        key, xlabel, _ = PANELS[bench]
        rows = [r for r in records if r["bench"] == bench]
        names = [f"{label(r)} ({r['threads']} thr)" for r in rows]
        values = [r[key] for r in rows]
        colours = ["tab:grey" if r["impl"] == "speechbrain" else "tab:blue" for r in rows]
        if bench == "peak":  # the machine's limit as its own bar under each measurement
            names = [n for r, n in zip(rows, names)
                     for n in (n, f"{r.get('dtype', 'fp32')} matmul peak ({r['threads']} thr)")]
            values = [v for r in rows for v in (r[key], r["matmul_gflops"])]
            colours = [c for _ in rows for c in ("tab:blue", "tab:red")]
        ax.barh(names, values, color=colours)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3g}", va="center", fontsize=8)
        if bench == "decode":  # SpeechBrain's beam and our greedy search differ by 100x
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.invert_yaxis()
        ax.margins(x=0.15)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> list[dict]:
    records = read([Path(p) for p in args.inputs])
    machine = records[0].get("machine", "")
    draw(records, Path(args.out), args.title or f"asr benchmarks on {machine}")
    print(f"wrote {args.out} ({len(records)} measurements)")
    return []
