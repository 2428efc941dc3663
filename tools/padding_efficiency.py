"""Usage:
    python tools/padding_efficiency.py data/tts-digits/train_cuts.jsonl.gz
    python tools/padding_efficiency.py data/tts-digits/train_cuts.jsonl.gz --max-duration 60 --num-buckets 5 10 20 30
    python tools/padding_efficiency.py --synthetic 5000 --speed-perturb 0.9 1.0 1.1   # no audio needed

Padding efficiency of the training batches: real samples / all samples (padding included) over an epoch of the
DynamicBucketingSampler that ASRDataModule builds, for each --num-buckets value. Only durations are used, so no
audio is read. With --speed-perturb each batch's lengths are scaled by one random factor after batching, as the
training dataset does. --synthetic N draws N durations uniformly from 0.5-4 s instead of reading a manifest.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from asr.data.datamodule import ASRDataModule  # noqa: E402


def synthetic_cuts(n: int, seed: int = 0, low: float = 0.5, high: float = 4.0):
    """Cuts of U(low, high) seconds over silent in-memory-free recordings (only their lengths matter here)."""
    from lhotse import AudioSource, CutSet, Recording

    rng = random.Random(seed)
    cuts = []
    for i in range(n):
        seconds = round(rng.uniform(low, high), 3)
        rec = Recording(id=f"syn{i:06d}", sources=[AudioSource(type="file", channels=[0], source="/dev/null")],
                        sampling_rate=16000, num_samples=round(seconds * 16000), duration=seconds)
        cuts.append(rec.to_cut())
    return CutSet.from_cuts(cuts)


def efficiency(dm: ASRDataModule, cuts, speed_perturb: list[float] | None, epochs: int, seed: int = 0
               ) -> tuple[float, int, float]:
    """(real / padded samples, batches per epoch, mean batch size) at the datamodule's sample rate."""
    rng = random.Random(seed)
    real = padded = batches = utts = 0
    sampler = dm.make_sampler(cuts, shuffle=True)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in sampler:
            factor = rng.choice(speed_perturb) if speed_perturb else 1.0  # one per batch, as asr.data.augment
            lens = [round(c.duration / factor * dm.sample_rate) for c in batch]  # (B,) samples
            real += sum(lens)
            padded += len(lens) * max(lens)
            batches += 1
            utts += len(lens)
    return real / padded, batches // epochs, utts / batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="*", help="training manifests (lhotse cuts or NeMo)")
    parser.add_argument("--synthetic", type=int, default=0, help="use N synthetic 0.5-4 s utterances instead")
    parser.add_argument("--max-duration", type=float, default=120.0, help="seconds per batch (default 120)")
    parser.add_argument("--num-buckets", type=int, nargs="+", default=[20], help="values to compare (default 20)")
    parser.add_argument("--buffer-size", type=int, default=20000)
    parser.add_argument("--speed-perturb", type=float, nargs="+", default=None)
    parser.add_argument("--epochs", type=int, default=3, help="epochs averaged over (default 3)")
    args = parser.parse_args()
    if bool(args.manifests) == bool(args.synthetic):
        parser.error("give manifests or --synthetic N (one of them)")

    cuts = None
    if args.synthetic:
        cuts = synthetic_cuts(args.synthetic)
    for num_buckets in args.num_buckets:
        dm = ASRDataModule(train_manifests=args.manifests or None, max_duration=args.max_duration,
                           num_buckets=num_buckets, buffer_size=args.buffer_size, num_workers=0)
        if cuts is None:
            cuts = dm.train_cuts()  # filtered and shuffled as for training
        eff, n_batches, mean_b = efficiency(dm, cuts, args.speed_perturb, args.epochs)
        hours = sum(c.duration for c in cuts) / 3600
        print(f"num_buckets={num_buckets:3d} max_duration={args.max_duration:g}s buffer={args.buffer_size}: "
              f"padding efficiency {eff:.3f} ({n_batches} batches/epoch, mean B {mean_b:.1f}, "
              f"{len(cuts)} utts, {hours:.2f} h)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
