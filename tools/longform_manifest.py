"""Usage:
    .venv/bin/python tools/longform_manifest.py --model exp/tts-sentences/model.pt \\
        --manifest data/tts-sentences/test_cuts.jsonl.gz --minutes 4 --out exp/longform-sentences
    .venv/bin/python tools/longform_manifest.py --model M --manifest test_cuts.jsonl.gz -- --lm lm.pt --lm-weight 0.3

Long-form check on real corpus utterances: joins randomly drawn cuts of a manifest (their own voices: a test
set's held-out ones) into one 16 kHz WAV with 0.4-1.5 s pauses between them, then runs `asr transcribe --format
json` on it (flags after `--` go to it) and prints the audio length, wall time, segments against utterances,
the WER of the whole transcript, and whether any segment loops: a word n-gram (n <= 4) said three or more times
in a row that the reference does not have, or a segment with more than 1.5x the words of the utterances it
covers.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16_000


def build(manifest: str, path: Path, minutes: float, seed: int = 0) -> list[tuple[float, float, str]]:
    from asr.data.manifests import load_cuts
    from asr.text import cut_text, normalise_text

    cuts = list(load_cuts([manifest]))
    random.Random(seed).shuffle(cuts)
    rng = random.Random(seed + 1)
    utts, t = [], 0.0
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        for cut in cuts:
            if t >= minutes * 60:
                break
            audio = cut.load_audio()[0].astype(np.float32)
            if cut.sampling_rate != SR:
                audio = soxr.resample(audio, cut.sampling_rate, SR).astype(np.float32)
            pause = np.zeros(int(rng.uniform(0.4, 1.5) * SR), dtype=np.float32)
            f.write(pause)
            t += len(pause) / SR
            f.write(audio)
            utts.append((t, t + len(audio) / SR, normalise_text(cut_text(cut))))
            t += len(audio) / SR
    return utts


def repeats(words: list[str], times: int = 3, longest: int = 4) -> bool:
    """True when some n-gram (n <= longest) occurs `times` or more times in a row."""
    for n in range(1, longest + 1):
        for i in range(len(words) - n * times + 1):
            gram = words[i : i + n]
            if all(words[i + k * n : i + (k + 1) * n] == gram for k in range(1, times)):
                return True
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--out", default="exp/longform-manifest")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("extra", nargs="*", help="flags for asr transcribe (after --)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wav = out / "long.wav"
    utts = build(args.manifest, wav, args.minutes, args.seed)
    duration = sf.info(wav).duration
    cmd = [sys.executable, "-m", "asr.cli", "transcribe", "--model", args.model, str(wav), "--format", "json",
           "--output-dir", str(out), *args.extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    result = json.loads((out / "long.json").read_text())

    import jiwer

    ref = " ".join(u[2] for u in utts)
    hyp = " ".join(s["text"] for s in result["segments"])
    looped = []
    for s in result["segments"]:
        words = s["text"].split()
        covered = [u[2] for u in utts if u[1] > s["start"] and u[0] < s["end"]]
        ref_words = " ".join(covered).split()
        if (repeats(words) and not repeats(ref_words)) or len(words) > 1.5 * max(len(ref_words), 1):
            looped.append(s)
    print(json.dumps({"audio_s": round(duration, 1), "wall_s": round(wall, 1), "rtf": round(wall / duration, 4),
                      "utterances": len(utts), "segments": len(result["segments"]),
                      "wer": round(jiwer.wer(ref, hyp), 4), "looping_segments": len(looped),
                      "command": " ".join(cmd)}, indent=1))
    for s in looped:
        print(f"loop? {s['start']:.1f}-{s['end']:.1f}: {s['text']}")


if __name__ == "__main__":
    main()
