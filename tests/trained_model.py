"""A tiny digit recogniser trained on synthesised speech, so the CLI tests run against a model that works.

Usage:
    .venv/bin/python tests/trained_model.py /tmp/digits            # trains, prints held-out WER, writes model.pt
    ASR_TEST_MODEL=/tmp/digits/model.pt .venv/bin/python -m pytest -q tests/test_transcribe.py   # reuse it

`train_digits_model(out_dir)` synthesises connected digit strings with espeak-ng (several accents, voice
variants and rates), trains `conf/model/tiny.yaml` with word tokens in a plain PyTorch loop on precomputed
log-mels (about a minute on 2 CPU threads) and saves the model file. Held-out utterances are spoken by voice
variants never heard in training and are written beside it as `heldout/*.wav` + `heldout.tsv`.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
import yaml

from asr.features import StatsAccumulator
from asr.model import ASRModel, ModelConfig, pad_targets
from asr.model.io import save_model
from asr.tokenizer import train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SR = 16_000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
TRAIN_VARIANTS = ("m1", "m2", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt2")
HELDOUT_VOICES = ("en-us+f4", "en-gb+m3", "en-029+m3", "en-gb-x-rp+f4")  # variants f4/m3 never trained on
TRAIN_UTTERANCES = 500
NOISE_SHARE = 0.08  # extra clips of only noise or silence, with empty transcripts
HELDOUT_UTTERANCES = 40
TRAIN_STEPS = 300  # fixed, not a time budget: the same model on a busy machine as on an idle one


def digit_text(rng: random.Random, max_digits: int = 5) -> str:
    digits = [rng.randrange(10) for _ in range(rng.randint(1, max_digits))]
    return " ".join("oh" if d == 0 and rng.random() < 0.3 else DIGITS[d] for d in digits)


def speak(text: str, voice: str, path: Path, wpm: int = 175, pitch: int = 50) -> np.ndarray:
    """espeak-ng -> float32 mono at 16 kHz, also written to `path` (16-bit WAV)."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-a", "60", "-w", str(raw), text],
                   check=True, capture_output=True)
    audio, sr = sf.read(raw, dtype="float32")
    raw.unlink()
    audio = soxr.resample(audio, sr, SR).astype(np.float32)
    sf.write(path, audio, SR, subtype="PCM_16")
    return audio


def _synthesise(items: list[tuple[str, str, Path, int, int]]) -> list[np.ndarray]:
    with ThreadPoolExecutor(max_workers=4) as pool:  # espeak-ng runs as a subprocess: threads are enough
        return list(pool.map(lambda it: speak(*it), items))


def train_digits_model(out_dir: Path, seed: int = 0, steps: int = TRAIN_STEPS, streaming: bool = False) -> Path:
    """Synthesise, train and save; returns the model file. Held-out audio goes to out_dir/heldout. `streaming`:
    WeNet's U2 recipe (causal conv module, dynamic chunk training), so the model also decodes chunk by chunk."""
    out_dir = Path(out_dir)
    (out_dir / "train").mkdir(parents=True, exist_ok=True)
    (out_dir / "heldout").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    torch.manual_seed(seed)

    train = [(digit_text(rng), f"{rng.choice(ACCENTS)}+{rng.choice(TRAIN_VARIANTS)}", rng.randint(130, 220),
              rng.randint(30, 70)) for _ in range(TRAIN_UTTERANCES)]
    heldout = [(digit_text(rng), HELDOUT_VOICES[i % len(HELDOUT_VOICES)], rng.randint(150, 200), 50)
               for i in range(HELDOUT_UTTERANCES)]
    waves = _synthesise([(t, v, out_dir / "train" / f"{i:04d}.wav", s, p) for i, (t, v, s, p) in enumerate(train)])
    # espeak-ng starts speaking at the first sample; segments cut from long audio start with a pause. Pad
    # training audio by random amounts, or the decoder learns that speech starts at once.
    waves = [np.concatenate([np.zeros(round(rng.uniform(0, 0.4) * SR), np.float32), w,
                             np.zeros(round(rng.uniform(0, 0.2) * SR), np.float32)]) for w in waves]
    texts = [t for t, *_ in train]
    waves, texts = _with_noise(waves, texts, np.random.default_rng(seed))
    _synthesise([(t, v, out_dir / "heldout" / f"{i:03d}.wav", s, p) for i, (t, v, s, p) in enumerate(heldout)])
    (out_dir / "heldout.tsv").write_text("".join(f"heldout/{i:03d}.wav\t{t}\n" for i, (t, *_) in enumerate(heldout)))

    tok = train_tokenizer(texts, "word")
    streams = {"causal": True, "dynamic_chunk": True} if streaming else {}
    cfg = ModelConfig.from_dict({**yaml.safe_load((ROOT / "conf/model/tiny.yaml").read_text()), "vocab_size": tok.vocab_size,
                                 **streams})
    model = ASRModel(cfg)
    feats, lens = _features(model, waves)
    stats = StatsAccumulator(cfg.frontend.n_mels)
    for f, n in zip(feats, lens):
        stats.update(f[None], torch.tensor([n]))
    model.cmvn.set_stats(*stats.result())
    feats = [model.cmvn(f) for f in feats]
    targets = [tok.encode(t) for t in texts]
    _train(model, feats, targets, steps)

    path = out_dir / "model.pt"
    save_model(path, model, tok, {"data": "espeak-ng digits (tests/trained_model.py)", "steps": steps})
    return path


def _with_noise(waves: list[np.ndarray], texts: list[str], rng: np.random.Generator
                ) -> tuple[list[np.ndarray], list[str]]:
    """Hiss under some utterances, and clips of only noise or silence transcribed as nothing: a model that
    never heard noise hears white noise as "six" (a long /s/) and transcribes it, confidently."""
    noisy = []
    for w in waves:
        if rng.random() < 0.3:
            level = np.sqrt(np.mean(w**2)) * 10 ** (-rng.uniform(10, 35) / 20)  # SNR 10-35 dB
            w = w + (level * rng.standard_normal(len(w))).astype(np.float32)
        noisy.append(w)
    for _ in range(round(NOISE_SHARE * len(waves))):
        n = round(rng.uniform(0.5, 3.0) * SR)
        amp = 10 ** (rng.uniform(-60, -15) / 20) if rng.random() < 0.8 else 0.0
        noisy.append((amp * rng.standard_normal(n)).astype(np.float32))
        texts = texts + [""]
    return noisy, texts


def _features(model: ASRModel, waves: list[np.ndarray]) -> tuple[list[torch.Tensor], list[int]]:
    feats, lens = [], []
    with torch.no_grad():
        for w in waves:
            f, n = model.features(torch.from_numpy(w)[None], torch.tensor([len(w)]))
            feats.append(f[0])
            lens.append(int(n[0]))
    return feats, lens


def _train(model: ASRModel, feats: list[torch.Tensor], targets: list[list[int]], steps: int,
           batch: int = 32, lr: float = 2e-3, warmup: int = 40) -> None:
    """AdamW with linear warm-up, then cosine decay; batches of similar length."""
    order = sorted(range(len(feats)), key=lambda i: feats[i].shape[0])
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    model.train()
    step = 0
    while step < steps:
        random.Random(step).shuffle(batches)
        for idx in batches:
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
            x = torch.nn.utils.rnn.pad_sequence([feats[i] for i in idx], batch_first=True)  # (B, T, F)
            x_lens = torch.tensor([feats[i].shape[0] for i in idx])
            y, y_lens = pad_targets([targets[i] for i in idx])
            loss = model.forward_features(x, x_lens, y, y_lens).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            if step == steps:
                break
    model.eval()


def read_heldout(out_dir: Path) -> list[tuple[Path, str]]:
    """[(wav path, reference text)] of the held-out utterances written by `train_digits_model`."""
    out_dir = Path(out_dir)
    rows = [line.split("\t") for line in (out_dir / "heldout.tsv").read_text().splitlines()]
    return [(out_dir / p, t) for p, t in rows]


if __name__ == "__main__":
    torch.set_num_threads(2)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/digits")
    t0 = time.monotonic()
    path = train_digits_model(out, streaming="--streaming" in sys.argv)
    print(f"trained {path} in {time.monotonic() - t0:.1f} s")
    from asr.decoding import DecodeOptions, decode
    from asr.metrics import error_report
    from asr.model.io import load_model_file

    model, tok, meta = load_model_file(path)
    refs, hyps = [], []
    for wav, text in read_heldout(out):
        audio, _ = sf.read(wav, dtype="float32")
        w = torch.from_numpy(audio)[None]
        for name, opts in {"att": DecodeOptions(beam=1, ctc_weight=0.0), "ctc": DecodeOptions(beam=1, ctc_weight=1.0),
                           "joint": DecodeOptions(beam=4, ctc_weight=0.3)}.items():
            hyps.append((name, tok.decode(decode(model, w, torch.tensor([w.shape[1]]), opts)[0])))
        refs.append(text)
    for name in ("att", "ctc", "joint"):
        h = [x for n, x in hyps if n == name]
        print(name, f"WER {error_report(refs, h).wer:.3f}", "steps", meta["steps"])


def session_model(tmp_root: Path) -> tuple[Path, list[tuple[Path, str]]]:
    """(model file, held-out [(wav, text)]) for the test session: ASR_TEST_MODEL=path reuses a model file (its
    folder's heldout.tsv when there is one, else freshly synthesised held-out audio); otherwise trains one."""
    import os

    reuse = os.environ.get("ASR_TEST_MODEL")
    if not reuse:
        path = train_digits_model(tmp_root)
        return path, read_heldout(tmp_root)
    path = Path(reuse)
    if (path.parent / "heldout.tsv").is_file():
        return path, read_heldout(path.parent)
    rng = random.Random(1)
    items = [(digit_text(rng), HELDOUT_VOICES[i % len(HELDOUT_VOICES)], 170, 50) for i in range(HELDOUT_UTTERANCES)]
    (tmp_root / "heldout").mkdir(parents=True, exist_ok=True)
    _synthesise([(t, v, tmp_root / "heldout" / f"{i:03d}.wav", s, p) for i, (t, v, s, p) in enumerate(items)])
    return path, [(tmp_root / "heldout" / f"{i:03d}.wav", t) for i, (t, *_) in enumerate(items)]


_correct: dict[Path, list[tuple[Path, str]]] = {}


def recognised(model_path: Path, heldout: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The held-out utterances the model transcribes exactly (default options), for tests that need a known
    right answer; computed once per session."""
    if model_path not in _correct:
        from asr.inference.transcriber import TranscribeOptions, load_model
        from asr.audio import open_audio

        model = load_model(model_path)
        items = [(str(w), lambda w=w: open_audio(w)) for w, _ in heldout]
        got = dict(model.transcribe_sources(items, TranscribeOptions(word_timestamps=False)))
        _correct[model_path] = [(w, t) for w, t in heldout if getattr(got[str(w)], "text", None) == t]
    return _correct[model_path]
