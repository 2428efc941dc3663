"""Fit the word-confidence calibration (asr/inference/confidence.py) for a model, and show it on held-out data.

Usage:
    .venv/bin/python tools/calibrate_confidence.py exp/demo/model.pt [more models] \
        --fit data/tts-digits/dev_cuts.jsonl.gz data/fsdd/dev_cuts.jsonl.gz \
        --check data/tts-digits/test_cuts.jsonl.gz data/fsdd/test_cuts.jsonl.gz [--write]

With several models one calibration is fitted to all of them together and shown on each: whether one fixed
function serves them. For the demo model and the test suite's digits model (`tests/trained_model.py`) it does
not (the demo model's held-out OOV words go back up to 0.52), so each model gets its own (--write).

Words are labelled right or wrong by aligning each cut's recognised words with its transcript. Held-out cuts
of a good model have few wrong words, and none of the kind that matters most (speech it has no words for), so
both the fit and the check add sentences outside a digits vocabulary synthesised with espeak-ng, different
sentences and voices for each (their recognised words are wrong unless they are in the sentence). Prints, per
set: words right and wrong and the mean confidence of each, before calibration (the posterior along the CTC
alignment), with the calibration in use now, and with the newly fitted one. --write stores the fitted one in
the model file's meta, where `calibration_of` finds it.

Each cut is decoded whole with the default decoding policy (as `asr evaluate` does), not cut by the VAD.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.inference.calibrate import labelled
from asr.inference.confidence import Calibration, Evidence, calibration_of, fit_calibration
from asr.inference.transcriber import Transcriber, load_model
from asr.text import cut_text

FIT_SENTENCES = [
    "please open the window", "she sells sea shells by the sea shore", "my favourite colour is green",
    "we went to the market on saturday", "the quick brown fox jumps over the lazy dog", "can you hear me now",
    "turn left at the next corner", "i would like a cup of coffee", "the train leaves in the morning",
    "call me at five five one two", "i have two cats and three dogs",
]
FIT_VOICES = ["en-us", "en-gb-scotland", "en-029+m2"]
CHECK_SENTENCES = [
    "the weather is nice today", "good morning everybody", "this is a test of the speech recogniser",
    "where did you put my keys", "the children are playing in the garden", "music helps me relax after work",
    "he bought four apples and one banana",
]
CHECK_VOICES = ["en-gb", "en-us+f4", "en-gb-x-rp+m3"]

Labelled = tuple[list[Evidence], list[bool]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model files; one calibration is fitted to them all")
    ap.add_argument("--fit", nargs="+", required=True, help="held-out manifests to fit on (dev cuts)")
    ap.add_argument("--check", nargs="*", default=[], help="held-out manifests to check on (test cuts)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many cuts per manifest")
    ap.add_argument("--write", action="store_true", help="store the fitted calibration in the model file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (one utterance at a time: 1 is enough)")
    args = ap.parse_args()
    if args.write and len(args.models) > 1:
        ap.error("--write stores one model's own calibration: give one model")
    torch.set_num_threads(args.threads)
    window = Calibration().window_s
    runs = []
    for path in args.models:
        model = load_model(path)
        with tempfile.TemporaryDirectory() as tmp:
            fit = {short(m): labelled_cuts(model, m, args.limit, window) for m in args.fit}
            fit["OOV sentences (fit)"] = labelled_speech(model, FIT_SENTENCES, FIT_VOICES, Path(tmp), window)
            check = {short(m): labelled_cuts(model, m, args.limit, window) for m in args.check}
            check["OOV sentences (held out)"] = labelled_speech(model, CHECK_SENTENCES, CHECK_VOICES, Path(tmp),
                                                                window)
        runs.append((path, model, fit, check))
    ev = [e for *_, fit, _ in runs for evs, _ in fit.values() for e in evs]
    ok = [c for *_, fit, _ in runs for _, cs in fit.values() for c in cs]
    fitted = fit_calibration(ev, ok, window)
    print(f"fitted: {fitted}")
    for path, model, fit, check in runs:
        now = calibration_of(model.meta)
        print(f"\n{path}, calibration in use: {now}")
        print(f"{'set':<34} {'right':>6} {'wrong':>6}   mean confidence right / wrong: raw | in use | fitted")
        for group, sets in (("fit", fit), ("check", check)):
            for name, (evs, cs) in sets.items():
                print(row(f"{group}: {name}", evs, cs, now, fitted))
    if args.write:
        path, model, *_ = runs[0]
        write(path, model, fitted)
        print(f"\nwrote the fitted calibration into {path}")


def short(manifest: str) -> str:
    """The manifest's folder and name: every corpus has a dev_cuts.jsonl.gz."""
    path = Path(manifest)
    return f"{path.parent.name}/{path.name.split('.')[0]}"


def row(name: str, evs: list[Evidence], cs: list[bool], now: Calibration, fitted: Calibration) -> str:
    c = np.asarray(cs, dtype=bool)

    def means(f) -> str:
        x = np.array([f(e) for e in evs])
        right = f"{x[c].mean():.3f}" if c.any() else "  -  "
        wrong = f"{x[~c].mean():.3f}" if (~c).any() else "  -  "
        return f"{right} / {wrong}"

    return f"{name:<34} {int(c.sum()):>6} {int((~c).sum()):>6}   " + " | ".join(
        means(f) for f in (lambda e: e.raw, now, fitted))


def labelled_cuts(model: Transcriber, manifest: str, limit: int | None, window: float) -> Labelled:
    from asr.data.manifests import load_cuts

    cuts = list(load_cuts(manifest))[:limit]
    evs, oks = [], []
    for cut in cuts:
        e, ok = labelled(model, cut.load_audio()[0], cut.sampling_rate, cut_text(cut), window)
        evs += e
        oks += ok
    return evs, oks


def labelled_speech(model: Transcriber, sentences: list[str], voices: list[str], tmp: Path, window: float
                    ) -> Labelled:
    evs, oks = [], []
    for i, text in enumerate(sentences):
        for voice in voices:
            e, ok = labelled(model, speak(text, voice, tmp / f"{i}-{voice}.wav"), 16_000, text, window)
            evs += e
            oks += ok
    return evs, oks


def speak(text: str, voice: str, path: Path) -> np.ndarray:
    """espeak-ng at 160 words/minute -> float32 at 16 kHz."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True, capture_output=True)
    audio, sr = sf.read(path, dtype="float32")
    return soxr.resample(audio, sr, 16_000).astype(np.float32)


def write(path: str, model: Transcriber, cal: Calibration) -> None:
    from asr.model.io import save_model

    save_model(path, model.net, model.tokenizer, {**model.meta, "confidence_calibration": cal.to_dict()})


if __name__ == "__main__":
    main()
