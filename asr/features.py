"""Log-mel features, global mean/variance normalisation and SpecAugment.

Shapes: waveform (B, S) float32 at 16 kHz with lengths (B,) -> log-mel (B, T, F) with lengths (B,).
Frames use `center=False` so a frame only sees samples of its own utterance: features, and everything after
them, are the same whether an utterance is alone or padded in a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import Tensor, nn


@dataclass
class FrontendConfig:
    sample_rate: int = 16000
    n_mels: int = 80  # F
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 0  # FFT size; 0 (or less than the window): the window's length (ESPnet pads 400 to 512)
    f_max: float = 0.0  # the top of the mel filterbank in Hz; 0: sample_rate / 2. 4000: telephone band only, so
    # 8 kHz recordings and full-band audio look alike to the model
    utterance_cmn: bool = False  # subtract each utterance's own mean log-mel per bin (its speech frames) before the
    # global CMVN: a fixed gain, microphone or vocal-tract tilt is a constant per bin in the log domain and cancels
    vtlp: float = 0.0  # training only: vocal tract length perturbation (Jaitly & Hinton 2013, 0.1 there): each
    # utterance's spectrum is warped by a factor from U[1 - vtlp, 1 + vtlp]; formants move, tempo does not
    # SpecAugment (training only); widths are upper bounds, drawn per utterance.
    freq_masks: int = 2
    freq_mask_width: int = 27
    time_masks: int = 2
    time_mask_ratio: float = 0.05  # max width as a fraction of the utterance's frames
    time_warp: int = 0  # max warp in frames; 0 disables


def num_frames(samples: Tensor, cfg: FrontendConfig) -> Tensor:
    """Frames T for S samples under `center=False`: floor((S - win) / hop) + 1, at least 0."""
    win, hop = win_hop(cfg)
    return torch.clamp(torch.div(samples - win, hop, rounding_mode="floor") + 1, min=0)


def win_hop(cfg: FrontendConfig) -> tuple[int, int]:
    """(window, hop) in samples."""
    return round(cfg.sample_rate * cfg.win_ms / 1000), round(cfg.sample_rate * cfg.hop_ms / 1000)


class LogMel(nn.Module):
    """Waveform (B, S) + lengths -> log-mel (B, T, F) + lengths. No learned parameters."""

    def __init__(self, cfg: FrontendConfig) -> None:
        super().__init__()
        self.cfg = cfg
        win, hop = win_hop(cfg)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=max(cfg.n_fft, win), win_length=win, hop_length=hop,
            n_mels=cfg.n_mels, center=False, power=2.0, f_max=cfg.f_max or None,
        )

    def forward(self, wave: Tensor, lens: Tensor, warp: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """warp (B,): VTLP factors, one per utterance (see `vtlp_warp`); None: no warp."""
        win, _ = win_hop(self.cfg)
        if torch.compiler.is_exporting():  # one graph for every length (asr.export.onnx): pad by a symbolic amount
            wave = nn.functional.pad(wave, (0, torch.sym_max(0, win - wave.shape[1])))
        elif wave.shape[1] < win:  # shorter than one window: pad so the STFT runs; lengths say 0 frames
            wave = nn.functional.pad(wave, (0, win - wave.shape[1]))
        extra = self.mel.n_fft - win
        if extra > 0:  # the window sits centred in a longer FFT: pad so frame t still starts at t * hop (T unchanged)
            wave = nn.functional.pad(wave, (extra // 2, extra - extra // 2))
        with torch.autocast(wave.device.type, enabled=False):  # under bf16 autocast too: the mel matmul in fp32
            spec = self.mel.spectrogram(wave.float())  # (B, K, T) power, K = n_fft // 2 + 1
            if warp is not None:
                spec = vtlp_warp(spec, warp)
            spec = self.mel.mel_scale(spec)  # (B, F, T)
        feats = torch.log(spec + 1e-6).transpose(1, 2)  # (B, T, F)
        frames = num_frames(lens, self.cfg)
        if self.cfg.utterance_cmn:
            feats = utterance_mean_norm(feats, frames)
        return feats, frames


VTLP_F_HI = 0.6  # share of Nyquist up to which VTLP scales frequencies linearly (4.8 kHz of 8: Jaitly & Hinton)


def vtlp_warp(spec: Tensor, alpha: Tensor) -> Tensor:
    """Power spectrogram (B, K, T) over 0..Nyquist -> the same with utterance b's frequencies scaled by alpha[b]
    (B,): what is at f moves to alpha * f below a boundary, and a second linear piece maps the rest of the band
    onto what is left so that Nyquist stays Nyquist (Jaitly & Hinton's piecewise-linear warp). Bins are read by
    linear interpolation between the two nearest source bins; alpha 1 is the identity.
    """
    B, K, _ = spec.shape
    f = torch.linspace(0.0, 1.0, K, device=spec.device)[None, :]  # (1, K) destination, as a share of Nyquist
    a = alpha.to(spec.dtype)[:, None]  # (B, 1)
    src_knee = VTLP_F_HI * torch.clamp(a, max=1.0) / a  # (B, 1): source frequency of the knee
    dst_knee = a * src_knee  # (B, 1): where the knee lands
    low = f / a
    high = src_knee + (f - dst_knee) * (1 - src_knee) / (1 - dst_knee)
    pos = torch.where(f <= dst_knee, low, high).clamp(0, 1) * (K - 1)  # (B, K) fractional source bin
    pos = torch.where((pos - pos.round()).abs() < 1e-4, pos.round(), pos)  # on a bin up to rounding: that bin
    lo = pos.floor().long().clamp(max=K - 2)
    frac = (pos - lo).unsqueeze(-1)  # (B, K, 1)
    index = lo.unsqueeze(-1).expand(-1, -1, spec.shape[2])  # (B, K, T)
    return spec.gather(1, index) * (1 - frac) + spec.gather(1, index + 1) * frac


CMN_RANGE = 6.9  # nats of power (30 dB) below an utterance's loudest frame that still count for its mean


def utterance_mean_norm(feats: Tensor, lens: Tensor) -> Tensor:
    """(B, T, F) minus each utterance's mean log-mel (B, 1, F) over its speech frames: valid frames within 30 dB
    of its loudest, so the share of silence (digital zeros in synthetic audio, a noise floor in recordings) does not
    move the mean. Padding frames stay as they were: an utterance's result is the same alone or padded in a batch.
    """
    valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < lens[:, None]  # (B, T)
    energy = feats.mean(-1).masked_fill(~valid, float("-inf"))  # (B, T)
    loud = valid & (energy >= energy.amax(1, keepdim=True) - CMN_RANGE)  # (B, T); holds the loudest frame
    w = loud.unsqueeze(-1).to(feats.dtype)  # (B, T, 1)
    mean = (feats * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp(min=1)  # (B, 1, F)
    return torch.where(valid.unsqueeze(-1), feats - mean, feats)


class GlobalCMVN(nn.Module):
    """(x - mean) / std per mel bin. The statistics are buffers, so they travel inside the model file."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def set_stats(self, mean: Tensor, std: Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=1e-5))

    def forward(self, x: Tensor) -> Tensor:  # (B, T, F) -> (B, T, F)
        return (x - self.mean) / self.std


class StatsAccumulator:
    """Running per-bin sums over valid frames only; `result()` gives (mean, std), each (F,)."""

    def __init__(self, n_mels: int) -> None:
        self.n = 0
        self.sum = torch.zeros(n_mels, dtype=torch.float64)
        self.sq = torch.zeros(n_mels, dtype=torch.float64)

    def update(self, feats: Tensor, lens: Tensor) -> None:  # (B, T, F), (B,)
        mask = torch.arange(feats.shape[1])[None, :] < lens[:, None]  # (B, T)
        valid = feats[mask].double()  # (N, F)
        self.n += valid.shape[0]
        self.sum += valid.sum(0)
        self.sq += (valid**2).sum(0)

    def result(self) -> tuple[Tensor, Tensor]:
        if self.n == 0:
            raise ValueError("no frames seen: the manifest is empty or every utterance is shorter than 25 ms")
        mean = self.sum / self.n
        var = (self.sq / self.n - mean**2).clamp(min=1e-10)
        return mean.float(), var.sqrt().float()


class SpecAugment(nn.Module):
    """Frequency and time masks (and an optional time warp) on (B, T, F); identity in eval mode.

    Masks are drawn per utterance, time masks are sized by each utterance's own length, and frames past a length
    keep their values (a frequency mask spans only the utterance's frames), so padding does not change what a
    short utterance sees and the padding is what the frontend made of it in eval too.
    """

    def __init__(self, cfg: FrontendConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self, x: Tensor, lens: Tensor) -> Tensor:  # (B, T, F), (B,) -> (B, T, F)
        if not self.training:
            return x
        cfg = self.cfg
        if cfg.time_warp > 0:
            x = time_warp(x, lens, cfg.time_warp)
        B, T, F = x.shape
        out = x
        for _ in range(cfg.freq_masks):
            out = _mask(out, torch.full((B,), cfg.freq_mask_width, device=x.device), axis=2)
        for _ in range(cfg.time_masks):
            width = (lens.float() * cfg.time_mask_ratio).long().clamp(min=1)
            out = _mask(out, width, axis=1, limit=lens)
        valid = torch.arange(T, device=x.device)[None, :] < lens[:, None]  # (B, T)
        return torch.where(valid[:, :, None], out, x)  # frequency masks span all T: keep them off the padding


def _mask(x: Tensor, max_width: Tensor, axis: int, limit: Tensor | None = None) -> Tensor:
    """Zero one random band [start, start + w) along `axis` per utterance; w ~ U[0, max_width)."""
    B, size = x.shape[0], x.shape[axis]
    limit = torch.full((B,), size, device=x.device) if limit is None else limit
    width = (torch.rand(B, device=x.device) * max_width).long()  # (B,)
    start = (torch.rand(B, device=x.device) * (limit - width).clamp(min=1)).long()  # (B,)
    pos = torch.arange(size, device=x.device)[None, :]  # (1, size)
    band = (pos >= start[:, None]) & (pos < (start + width)[:, None])  # (B, size)
    band = band[:, :, None] if axis == 1 else band[:, None, :]
    return x.masked_fill(band, 0.0)  # 0 is the mean after CMVN


def time_warp(x: Tensor, lens: Tensor, max_warp: int) -> Tensor:
    """Stretch the frames left of a random centre and squeeze those right of it (SpecAugment's warp), per utterance."""
    out = x.clone()
    for b in range(x.shape[0]):
        n = int(lens[b])
        if n <= 2 * max_warp + 2:
            continue
        centre = int(torch.randint(max_warp + 1, n - max_warp - 1, (1,)))
        new = centre + int(torch.randint(-max_warp, max_warp + 1, (1,)))
        seg = x[b : b + 1, :n].transpose(1, 2)  # (1, F, n)
        left = nn.functional.interpolate(seg[..., :centre], size=new, mode="linear", align_corners=False)
        right = nn.functional.interpolate(seg[..., centre:], size=n - new, mode="linear", align_corners=False)
        out[b, :n] = torch.cat([left, right], dim=2)[0].transpose(0, 1)
    return out
