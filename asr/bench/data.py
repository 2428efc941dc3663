"""Data loading speed: the training loader (asr.data.datamodule: audio read, resampled, padded into bucketed
batches) from manifests (one FLAC file per cut, as LibriSpeech ships) and from lhotse Shar shards (`asr
export-shar`), with 0, 1 and 2 loader workers, on a synthetic corpus of --cuts cuts (cached under --root).

Reported per source x workers: audio hours and cuts per second of wall clock over --batches batches after a
warm-up, and per worker. A GPU step of a recipe consumes its per-device batch (data.max_duration seconds): the
loader keeps up while audio_h_per_s x 3600 / max_duration exceeds the GPU's steps per second.

    asr bench data --cuts 20000 --workers 0,1,2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import AudioSource, CutSet, MonoCut, Recording, SupervisionSegment

from asr.bench.common import progress
from asr.data.datamodule import ASRDataModule
from asr.data.shar import export_shar
from asr.errors import UserError
from asr.hardware import cpu_model

SR = 16_000


def synthetic_corpus(root: Path, n: int, mean_s: float, seed: int = 0) -> Path:
    """`n` FLAC files of noise with a spoken-like envelope, 0.5-1.5 x `mean_s` long, and their cut manifest;
    made once per (n, mean_s) under `root`."""
    manifest = root / f"cuts_{n}_{mean_s:g}.jsonl.gz"
    if manifest.is_file():
        return manifest
    audio_dir = root / f"audio_{n}_{mean_s:g}"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cuts = []
    for i in range(n):
        if i % 2000 == 0:
            progress(f"synthetic corpus: {i}/{n} files")
        samples = int(SR * mean_s * rng.uniform(0.5, 1.5))
        envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 6 * np.pi * samples / SR, samples))
        audio = (0.1 * rng.standard_normal(samples) * envelope).astype(np.float32)
        path = audio_dir / f"c{i:06d}.flac"
        sf.write(path, audio, SR)
        rec = Recording(id=f"c{i:06d}", sources=[AudioSource(type="file", channels=[0], source=str(path))],
                        sampling_rate=SR, num_samples=samples, duration=samples / SR)
        sup = SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration, text="a b c")
        cuts.append(MonoCut(id=rec.id, start=0.0, duration=rec.duration, channel=0, recording=rec,
                            supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(manifest)
    return manifest


def measure(dm: ASRDataModule, batches: int, warmup: int) -> dict:
    """Iterate the training loader: `warmup` batches untimed (workers starting), then `batches` timed."""
    loader = dm.train_dataloader()
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    audio_s, cuts, started = 0.0, 0, time.perf_counter()
    taken = 0
    for batch in it:
        audio_s += float(batch["audio_lens"].sum()) / SR
        cuts += len(batch["ids"])
        taken += 1
        if taken >= batches:
            break
    wall = time.perf_counter() - started
    return {"batches": taken, "audio_s": round(audio_s, 1), "wall_s": round(wall, 2),
            "audio_h_per_s": round(audio_s / 3600 / wall, 4), "cuts_per_s": round(cuts / wall, 1)}


def run(args: argparse.Namespace) -> list[dict]:
    workers = [int(w) for w in args.workers.split(",")]
    if args.cuts < 1 or args.batches < 1 or min(workers) < 0:
        raise UserError("--cuts and --batches must be at least 1, --workers 0 or more")
    root = Path(args.root)
    manifest = synthetic_corpus(root, args.cuts, args.seconds)
    shar = root / f"shar_{args.cuts}_{args.seconds:g}_{args.shard_size}"
    if not (shar / "cuts.000000.jsonl.gz").is_file():
        progress(f"writing Shar shards of {args.shard_size} cuts to {shar}")
        export_shar(CutSet.from_file(manifest), shar, args.shard_size)
    records = []
    for source in ("manifest", "shar"):
        for w in workers:
            kwargs = {"train_manifests": str(manifest)} if source == "manifest" else {"shar_dirs": [str(shar)]}
            dm = ASRDataModule(**kwargs, max_duration=args.max_duration, num_workers=w, seed=0)
            dm.setup("fit")
            progress(f"{source}, {w} worker(s): {args.batches} batches of {args.max_duration:g} s")
            rec = measure(dm, args.batches, args.warmup)
            records.append({"bench": "data", "source": source, "workers": w, "cuts": args.cuts,
                            "mean_cut_s": args.seconds, "max_duration": args.max_duration, **rec,
                            "audio_h_per_s_per_worker": round(rec["audio_h_per_s"] / max(1, w), 4),
                            "machine": cpu_model(), "cpus": os.cpu_count(),
                            "load_avg_1m": round(os.getloadavg()[0], 2)})
    return records
