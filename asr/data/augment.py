"""Waveform augmentation for training batches: speed perturbation (lhotse), synthetic additive noise, band
limiting (a telephone channel: 8 kHz recordings such as FSDD hold nothing above 4 kHz) and reverberation by
synthetic room impulse responses (lhotse's fast random generator).

Shapes: audio (B, S) zero-padded, with lengths (B,). Padding stays exactly zero, so an utterance's features do
not depend on what it was batched with.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from lhotse import CutSet
from torch import Tensor

NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f**beta


def perturb_speed(cuts: CutSet, factors: Sequence[float], rng: random.Random) -> CutSet:
    """All cuts of a batch at one speed drawn uniformly from `factors` (1.0: unchanged); ids are kept.

    One factor per batch, not per cut: the sampler bucketed these cuts by length, and independent factors would
    undo that (padding efficiency 0.95 -> 0.87 at 0.9/1.0/1.1, tools/padding_efficiency.py). Every utterance
    still meets every speed across epochs.
    """
    factor = rng.choice(list(factors))
    if factor == 1.0:
        return cuts
    return CutSet.from_cuts(cut.perturb_speed(factor, affix_id=False) for cut in cuts)


def coloured_noise(lens: Tensor, num_samples: int, beta: Tensor, generator: torch.Generator) -> Tensor:
    """Unit-power noise (B, S) with power spectrum ~ 1 / f**beta per row; zero past each row's length."""
    B = lens.shape[0]
    white = torch.randn(B, num_samples, generator=generator)  # (B, S)
    spec = torch.fft.rfft(white, dim=1)  # (B, S // 2 + 1)
    freqs = torch.arange(spec.shape[1], dtype=torch.float32).clamp(min=1.0)  # DC gets the first bin's gain
    spec = spec * freqs[None, :] ** (-beta[:, None] / 2)  # amplitude ~ f**(-beta/2)
    noise = torch.fft.irfft(spec, n=num_samples, dim=1)  # (B, S)
    mask = torch.arange(num_samples)[None, :] < lens[:, None]  # (B, S)
    noise = noise * mask
    power = (noise**2).sum(1) / lens.clamp(min=1)  # (B,)
    return noise / power.clamp(min=1e-12).sqrt()[:, None]


def add_noise(
    audio: Tensor,
    lens: Tensor,
    snr_db: tuple[float, float],
    prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Add white, pink or brown noise at an SNR drawn from U[snr_db] to each utterance with probability `prob`.

    audio (B, S) float, lens (B,) -> (B, S). Signal power is measured over each utterance's own samples.
    """
    generator = generator or _default_generator()
    B, S = audio.shape
    snr, apply = _draws(B, snr_db, prob, generator)  # (B,) dB, (B,) bool
    beta = torch.tensor(list(NOISE_COLOURS.values()))[torch.randint(len(NOISE_COLOURS), (B,), generator=generator)]
    noise = coloured_noise(lens, S, beta, generator)  # (B, S), unit power
    signal_power = (audio.float() ** 2).sum(1) / lens.clamp(min=1)  # (B,)
    scale = (signal_power / 10 ** (snr / 10)).sqrt() * apply  # (B,)
    return audio + (noise * scale[:, None]).to(audio.dtype)


def band_limit(
    audio: Tensor,
    lens: Tensor,
    sample_rate: int,
    cutoff_hz: tuple[float, float],
    prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Low-pass each utterance with probability `prob` at a cutoff drawn from U[cutoff_hz]: what a recording made
    at 8 kHz (telephone, FSDD) sounds like at 16 kHz. audio (B, S), lens (B,) -> (B, S), padding still zero.

    A brick-wall cut in the spectrum of each row's own samples (zero-phase, so nothing moves in time)."""
    cutoff, apply = _draws(audio.shape[0], cutoff_hz, prob, generator or _default_generator())  # (B,) Hz, bool
    out = audio.clone()
    for b in torch.nonzero(apply).flatten().tolist():
        n = int(lens[b])
        spec = torch.fft.rfft(audio[b, :n].float())  # (n // 2 + 1,)
        freqs = torch.fft.rfftfreq(n, d=1.0 / sample_rate)
        spec[freqs > cutoff[b]] = 0
        out[b, :n] = torch.fft.irfft(spec, n=n).to(audio.dtype)
    return out


def rir_bank(count: int, sample_rate: int, max_t60: float, seed: int) -> list[Tensor]:
    """`count` synthetic room impulse responses, each (K,): lhotse's fast random generator (Luo et al., 2022,
    arXiv 2208.04101; rooms with T60 up to `max_t60` s, sources 0.2-12 m away). One costs ~30 ms, too much
    for every utterance of every batch, so a training run draws from a bank made once from its seed."""
    import numpy as np
    from lhotse.augmentation.utils import FastRandomRIRGenerator

    gen = FastRandomRIRGenerator(sr=sample_rate, max_T60=max_t60, room_seed=seed, source_seed=seed + 1)
    with torch.random.fork_rng(devices=[]):  # it also draws from torch's global generator: seed it, restore it
        torch.manual_seed(seed)
        return [torch.from_numpy(np.asarray(gen(nsource=1)[0], dtype=np.float32)) for _ in range(count)]


def reverberate(
    audio: Tensor,
    lens: Tensor,
    rirs: Sequence[Tensor],
    prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Convolve each utterance, with probability `prob`, with an impulse response drawn from `rirs`, as Kaldi's
    wav-reverberate --shift-output does: the output starts at the direct path's peak, keeps the input's length and
    its power. audio (B, S), lens (B,) -> (B, S), padding still zero."""
    generator = generator or _default_generator()
    B = audio.shape[0]
    pick = torch.randint(len(rirs), (B,), generator=generator)  # (B,)
    apply = torch.rand(B, generator=generator) < prob  # (B,)
    out = audio.clone()
    for b in torch.nonzero(apply).flatten().tolist():
        n, h = int(lens[b]), rirs[int(pick[b])]
        x = audio[b, :n].float()
        size = n + h.numel() - 1
        y = torch.fft.irfft(torch.fft.rfft(x, n=size) * torch.fft.rfft(h, n=size), n=size)  # (n + K - 1,)
        shift = int(h.abs().argmax())
        y = y[shift:shift + n]
        y = y * ((x**2).sum() / (y**2).sum().clamp(min=1e-12)).sqrt()
        out[b, :n] = y.to(audio.dtype)
    return out


def _draws(B: int, span: tuple[float, float], prob: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per utterance: a value from U[span] (B,), and whether to apply the augmentation at all (B,) bool."""
    lo, hi = span
    value = lo + (hi - lo) * torch.rand(B, generator=generator)
    return value, torch.rand(B, generator=generator) < prob


def _default_generator() -> torch.Generator:
    return torch.Generator().manual_seed(int(torch.initial_seed()) % 2**63)
