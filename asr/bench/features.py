"""Log-mel throughput in audio seconds per second: our frontend (torchaudio's MelSpectrogram, batched) against
librosa's melspectrogram and torchaudio's Kaldi-compatible fbank on the same audio (one utterance per call,
as those two take it). All three: 16 kHz, 25 ms windows, 10 ms hop, 80 mel bins, log of the power.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

import librosa
import numpy as np
import torch
import torchaudio

from asr.bench.common import base_record, time_runs, setup
from asr.errors import UserError
from asr.features import FrontendConfig, LogMel


def test_audio(batch: int, seconds: float, rate: int) -> torch.Tensor:
    """(B, S) a chirp plus noise: deterministic, and with energy across the band like speech."""
    n = int(seconds * rate)
    t = torch.arange(n, dtype=torch.float64) / rate
    chirp = torch.sin(2 * math.pi * (100 * t + 3000 * t**2 / max(seconds, 1e-3)))
    g = torch.Generator().manual_seed(0)
    return (0.5 * chirp + 0.05 * torch.randn(batch, n, generator=g, dtype=torch.float64)).float()


def frontends(wave: torch.Tensor, cfg: FrontendConfig) -> dict[str, Callable[[], object]]:
    win, hop = round(cfg.sample_rate * cfg.win_ms / 1000), round(cfg.sample_rate * cfg.hop_ms / 1000)
    ours = LogMel(cfg)
    lens = torch.full((wave.shape[0],), wave.shape[1])
    rows = [w.numpy() for w in wave]

    @torch.no_grad()
    def asr() -> object:
        return ours(wave, lens)

    def librosa_mel() -> object:
        return [np.log(librosa.feature.melspectrogram(
            y=y, sr=cfg.sample_rate, n_fft=win, hop_length=hop, n_mels=cfg.n_mels, center=False) + 1e-6)
            for y in rows]

    @torch.no_grad()
    def kaldi_fbank() -> object:
        return [torchaudio.compliance.kaldi.fbank(
            w[None], num_mel_bins=cfg.n_mels, sample_frequency=cfg.sample_rate, frame_length=cfg.win_ms,
            frame_shift=cfg.hop_ms, dither=0.0) for w in wave]

    return {"asr": asr, "librosa": librosa_mel, "torchaudio-kaldi-fbank": kaldi_fbank}


def run(args: argparse.Namespace) -> list[dict]:
    device = setup(args)
    if device.type != "cpu":
        raise UserError("bench features runs on the CPU (librosa has no GPU path); drop --device")
    if args.seconds <= 0.025 or args.batch < 1:
        raise UserError("--seconds must be above 0.025 and --batch at least 1")
    cfg = FrontendConfig()
    wave = test_audio(args.batch, args.seconds, cfg.sample_rate)
    audio_s = args.batch * args.seconds
    records = []
    for name, fn in frontends(wave, cfg).items():
        times = time_runs(fn, args.steps, args.warmup, device)
        rec = base_record(args, "features", device, name)
        rec.update(batch=args.batch, audio_s=audio_s, **times.summary("seconds"),
                   audio_seconds_per_second=round(audio_s / times.median, 3))
        records.append(rec)
    return records
