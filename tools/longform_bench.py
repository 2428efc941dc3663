"""Usage:
    .venv/bin/python tools/longform_bench.py --model exp/demo/model.pt                 # 1 hour, all CPU threads
    .venv/bin/python tools/longform_bench.py --model model.pt --hours 0.1 --threads 2 --max-digits 5 --out exp/longform

Long-form benchmark of `asr transcribe`: builds one long 16 kHz FLAC of connected-digit strings spoken by
espeak-ng voices with 0.4-1.5 s pauses between them (written block by block; the reference transcript and
utterance times go beside it), then runs `asr transcribe --format json` on it in a child process and reports
the audio length, wall time, real-time factor (wall / audio), the child's peak resident memory (getrusage
ru_maxrss, as `/usr/bin/time -v` shows it), the number of segments against the number of utterances, and the
WER of the whole transcript against the reference. The file is reused when it already exists.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16_000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-us+f4", "en-gb+m3", "en-029+m3", "en-gb-x-rp+f4", "en-us+m1", "en-gb-scotland+f2")
UNIQUE = 150  # distinct utterances synthesised; the file repeats them in random order


def build(path: Path, hours: float, max_digits: int = 7, seed: int = 0) -> dict:
    """Write the long file and return {"duration", "utterances": [[start, end, text], ...]}."""
    rng = random.Random(seed)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(UNIQUE):
            text = " ".join(rng.choice(DIGITS) for _ in range(rng.randint(1, max_digits)))
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", VOICES[i % len(VOICES)], "-s", str(rng.randint(150, 200)), "-a", "60",
                            "-w", str(wav), text], check=True, capture_output=True)
            audio, sr = sf.read(wav, dtype="float32")
            clips.append((soxr.resample(audio, sr, SR).astype(np.float32), text))
    utterances, t, target = [], 0.0, hours * 3600
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        while t < target:
            pause = np.zeros(round(rng.uniform(0.4, 1.5) * SR), np.float32)
            audio, text = rng.choice(clips)
            f.write(np.concatenate([pause, audio]))
            start = t + len(pause) / SR
            t = start + len(audio) / SR
            utterances.append([round(start, 3), round(t, 3), text])
    return {"duration": t, "utterances": utterances}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--max-digits", type=int, default=7, help="digits per utterance: 1 to this (default 7)")
    p.add_argument("--out", default="exp/longform")
    p.add_argument("--threads", type=int, default=None, help="OMP/torch threads of the child (default: all)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--ctc-weight", type=float, default=0.3)
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    audio = out / f"digits{args.max_digits}-{args.hours:g}h.flac"
    ref_path = audio.with_suffix(".ref.json")
    if not (audio.exists() and ref_path.exists()):
        t0 = time.perf_counter()
        ref_path.write_text(json.dumps(build(audio, args.hours, args.max_digits)))
        print(f"built {audio} in {time.perf_counter() - t0:.0f} s ({audio.stat().st_size / 1e6:.0f} MB)", flush=True)
    ref = json.loads(ref_path.read_text())

    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    cmd = [sys.executable, "-m", "asr.cli", "transcribe", "--model", args.model, str(audio), "--output-dir", str(out),
           "--format", "json", "--batch-size", str(args.batch_size), "--beam", str(args.beam),
           "--ctc-weight", str(args.ctc_weight)]
    print(" ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux

    import jiwer

    hyp = json.loads((out / f"{audio.stem}.json").read_text())
    wer = jiwer.wer(" ".join(u[2] for u in ref["utterances"]), hyp["text"] or "<empty>")
    report = {"audio_s": round(ref["duration"], 1), "wall_s": round(wall, 1), "rtf": round(wall / ref["duration"], 4),
              "peak_rss_mb": round(peak_mb), "segments": len(hyp["segments"]), "utterances": len(ref["utterances"]),
              "wer": round(wer, 4), "threads": args.threads or os.cpu_count(), "command": " ".join(cmd)}
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
