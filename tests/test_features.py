"""The frontend against what it promises: log-mel equal to an independent numpy + librosa reference (frame count
included), CMVN as (x - mean) / std, SpecAugment's masks bounded in count and width and kept inside each
utterance (identity in eval), and time warp a monotone resampling inside each utterance.

Padding invariance of the whole encoder is tested in test_model.py; here the log-mel of a zero-padded utterance is
compared with the reference computed on that utterance alone.
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch
from torch import Tensor

from asr.features import FrontendConfig, GlobalCMVN, LogMel, SpecAugment, num_frames, time_warp, vtlp_warp

SR = 16000


# ---------------------------------------------------------------------------------------------------- log-mel


def _signal(seconds: float, tones: tuple[float, float], seed: int) -> np.ndarray:
    """(S,) float32: two sines plus a little seeded noise, so every mel bin has some energy."""
    t = np.arange(int(seconds * SR)) / SR
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.shape)
    return (0.5 * np.sin(2 * np.pi * tones[0] * t) + 0.25 * np.sin(2 * np.pi * tones[1] * t) + noise).astype(np.float32)


def _reference_log_mel(y: np.ndarray, n_mels: int, win: int, hop: int, n_fft: int = 0) -> np.ndarray:
    """(T, F) in float64, written from the definition rather than through torchaudio: frames without centring,
    a periodic Hann window (torch.hann_window's default), |rfft|^2 with n_fft = win, librosa's HTK mel filterbank
    without normalisation over [0, sr/2] (torchaudio's MelSpectrogram defaults: mel_scale="htk", norm=None),
    then log(x + 1e-6)."""
    T = (len(y) - win) // hop + 1
    frames = np.stack([y[i * hop : i * hop + win] for i in range(T)]).astype(np.float64)  # (T, win)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic: period win, not win - 1
    n_fft = max(n_fft, win)  # a longer FFT zero-pads each windowed frame (ESPnet: 400 into 512)
    power = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2  # (T, n_fft // 2 + 1)
    fbank = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=SR / 2, htk=True, norm=None)
    return np.log(power @ fbank.T + 1e-6)  # (T, F)


@pytest.mark.parametrize(("n_mels", "n_fft"), [(80, 0), (40, 0), (80, 512)])
def test_log_mel_equals_the_numpy_reference_alone_and_zero_padded_in_a_batch(n_mels, n_fft):
    """Row 1 is a 1 s utterance zero-padded to the 1.25 s of row 0: each row must equal the reference computed on
    its own samples, so padding changes none of the short utterance's frames. With a 512-point FFT (ESPnet's) the
    frames and their count stay those of the 400-sample window."""
    cfg = FrontendConfig(n_mels=n_mels, n_fft=n_fft)
    win, hop = 400, 160  # 25 ms and 10 ms at 16 kHz
    long, short = _signal(1.25, (220.0, 5000.0), seed=1), _signal(1.0, (440.0, 3000.0), seed=0)
    wave = torch.zeros(2, len(long))
    wave[0], wave[1, : len(short)] = torch.from_numpy(long), torch.from_numpy(short)
    feats, lens = LogMel(cfg)(wave, torch.tensor([len(long), len(short)]))
    assert lens.tolist() == [(20000 - win) // hop + 1, (16000 - win) // hop + 1] == [123, 98]
    assert feats.shape == (2, 123, n_mels) and feats.dtype == torch.float32
    for b, y in enumerate((long, short)):
        ref = torch.from_numpy(_reference_log_mel(y, n_mels, win, hop, n_fft)).float()
        # float32 STFT against float64: log-domain error is the power's relative error, ~1e-4 on the weakest bins
        torch.testing.assert_close(feats[b, : lens[b]], ref, rtol=1e-4, atol=1e-3)


def test_frame_count_is_floor_of_samples_minus_window_over_hop_plus_one():
    samples = torch.tensor([0, 1, 399, 400, 401, 559, 560, 16000, 16079, 16080])
    expected = [0, 0, 0, 1, 1, 1, 2, 98, 98, 99]
    assert num_frames(samples, FrontendConfig()).tolist() == expected
    frontend = LogMel(FrontendConfig())
    feats, lens = frontend(torch.randn(len(samples), 16080), samples)
    assert lens.tolist() == expected and feats.shape[1] == 99
    feats, lens = frontend(torch.randn(1, 300), torch.tensor([300]))  # shorter than one window: runs, 0 frames
    assert lens.tolist() == [0]


# ---------------------------------------------------------------------------------------------------- CMVN


def test_global_cmvn_is_x_minus_mean_over_std_with_the_stats_as_buffers():
    cmvn = GlobalCMVN(4)
    x = torch.randn(2, 5, 4)
    assert torch.equal(cmvn(x), x)  # unset stats: identity
    mean, std = torch.tensor([1.0, -2.0, 0.5, 0.0]), torch.tensor([2.0, 0.5, 1.0, 0.0])
    cmvn.set_stats(mean, std)
    clamped = torch.tensor([2.0, 0.5, 1.0, 1e-5])  # a constant bin: clamped, not a division by zero
    assert torch.equal(cmvn.std, clamped) and torch.equal(cmvn.mean, mean)
    torch.testing.assert_close(cmvn(x), (x - mean) / clamped)
    assert set(cmvn.state_dict()) == {"mean", "std"}  # saved with the model


# ---------------------------------------------------------------------------------------------------- SpecAugment

LENS = torch.tensor([300, 217, 64, 12, 0])  # frames; T = 300. 0: an utterance shorter than one window


def _features(seed: int = 0) -> Tensor:
    """(B, T, F) with no zeros, so the zeros in SpecAugment's output are exactly its masks."""
    return torch.rand(len(LENS), 300, 80, generator=torch.Generator().manual_seed(seed)) + 1.0


def _runs(flags: Tensor) -> list[int]:
    """Lengths of the maximal runs of True in a 1-D bool tensor."""
    out, n = [], 0
    for f in flags.tolist() + [False]:
        if f:
            n += 1
        elif n:
            out.append(n)
            n = 0
    return out


def _bands_needed(runs: list[int], width: int) -> float:
    """The fewest bands of width <= `width` whose union is these runs (overlapping or touching bands merge)."""
    if not runs:
        return 0
    return math.inf if width == 0 else sum(math.ceil(r / width) for r in runs)


@pytest.mark.parametrize("masks", [1, 2])
def test_specaugment_masks_are_bounded_bands_inside_each_utterance(masks):
    """What the code guarantees: each of the `masks` draws zeroes one band (possibly empty, possibly overlapping
    another) of whole mel bins across the utterance's frames, < freq_mask_width wide, and one band of whole frames
    inside [0, length), at most time_mask_ratio * that utterance's length wide. So the masked bins are the union of
    at most `masks` bands of width <= freq_mask_width (likewise for frames), nothing else changes, padding keeps its
    values, and over seeds the configured count is reached."""
    W, ratio = 27, 0.1
    aug = SpecAugment(FrontendConfig(freq_masks=masks, freq_mask_width=W, time_masks=masks, time_mask_ratio=ratio))
    aug.train()
    x = _features()
    most_bins, most_spans = [0] * len(LENS), [0] * len(LENS)
    widest_bins, widest_spans = [0] * len(LENS), [0] * len(LENS)
    for seed in range(40):
        torch.manual_seed(seed)
        out = aug(x, LENS)
        assert out.shape == x.shape
        for b, n in enumerate(LENS.tolist()):
            assert torch.equal(out[b, n:], x[b, n:]), "a mask reached the padding"
            if n == 0:
                continue
            zero = out[b, :n] == 0  # (n, F)
            assert torch.equal(out[b, :n][~zero], x[b, :n][~zero]), "unmasked values changed"
            bins, frames = zero.all(0), zero.all(1)  # (F,), (n,)
            assert torch.equal(zero, bins[None, :] | frames[:, None]), "a mask is not whole bins or whole frames"
            bin_runs, frame_runs = _runs(bins), _runs(frames)
            assert _bands_needed(bin_runs, W) <= masks, bin_runs
            assert _bands_needed(frame_runs, int(ratio * n)) <= masks, (n, frame_runs)
            most_bins[b], most_spans[b] = max(most_bins[b], len(bin_runs)), max(most_spans[b], len(frame_runs))
            widest_bins[b] = max([widest_bins[b], *bin_runs])
            widest_spans[b] = max([widest_spans[b], *frame_runs])
    # the masks are really drawn, `masks` of each, sized per utterance: 30, 21, 6 and 1 frames at most here
    assert most_bins[:4] == [masks] * 4
    assert most_spans[:3] == [masks] * 3 and most_spans[3] == 0  # 12 frames: a width bound of 1 draws width 0
    if masks == 1:
        assert all(W // 2 < w < W for w in widest_bins[:4])
        assert widest_spans[0] > 21 and 6 < widest_spans[1] <= 21 and widest_spans[2] <= 6


def test_specaugment_is_the_identity_in_eval_and_only_in_training_inside_the_model(tiny_cfg):
    aug = SpecAugment(FrontendConfig(time_warp=5))
    x = _features()
    assert torch.equal(aug.eval()(x, LENS), x)

    from asr.model import ASRModel

    torch.manual_seed(0)
    model = ASRModel(tiny_cfg)  # default frontend: 2 + 2 masks
    model.cmvn.set_stats(torch.full((80,), -5.0), torch.full((80,), 3.0))  # no exact zeros before masking
    wave, wave_lens = torch.randn(2, 16000), torch.tensor([16000, 9000])
    with torch.no_grad():
        feats, lens = model.features(wave, wave_lens)
        plain = model.cmvn(feats)
        assert torch.equal(model.eval().frontend(wave, wave_lens)[0], plain)
        trained, _ = model.train().frontend(wave, wave_lens)
    assert (trained == 0).any() and not (plain == 0).any()
    assert torch.equal(trained[1, lens[1] :], plain[1, lens[1] :])


# ---------------------------------------------------------------------------------------------------- time warp


def _ramped(seed: int) -> Tensor:
    """(B, T, F): channel 0 is the frame index, so after a warp it reads where each output frame was taken from."""
    x = torch.randn(len(LENS), 300, 6, generator=torch.Generator().manual_seed(seed))
    x[..., 0] = torch.arange(300.0)
    return x


def test_time_warp_is_a_monotone_resampling_inside_each_utterance():
    w = 5
    x = _ramped(0)
    moved = [False] * len(LENS)
    for seed in range(20):
        torch.manual_seed(seed)
        out = time_warp(x, LENS, w)
        for b, n in enumerate(LENS.tolist()):
            assert torch.equal(out[b, n:], x[b, n:]), "the warp reached the padding"
            if n <= 2 * w + 2:  # too short to warp by up to w frames on both sides of a centre
                assert torch.equal(out[b], x[b])
                continue
            pos = out[b, :n, 0]  # (n,) source position of each output frame
            assert bool((pos[1:] >= pos[:-1]).all()), "not monotone"
            assert float(pos[0]) >= 0 and float(pos[-1]) <= n - 1, "read outside the utterance"
            assert float((pos - torch.arange(n)).abs().max()) <= w + 1e-4, "moved more than max_warp"
            moved[b] |= bool((pos - torch.arange(n)).abs().max() > 0.5)
            # every channel is the linear interpolation of the input at those positions
            i0 = pos.floor().long().clamp(max=n - 2)
            frac = (pos - i0)[:, None]
            expected = x[b, i0, 1:] * (1 - frac) + x[b, i0 + 1, 1:] * frac
            torch.testing.assert_close(out[b, :n, 1:], expected, atol=1e-4, rtol=1e-4)
    assert moved[:3] == [True] * 3


def test_time_warp_zero_is_the_identity_and_specaugment_warps_before_masking():
    x = _ramped(1)
    assert torch.equal(time_warp(x, LENS, 0), x)
    aug = SpecAugment(FrontendConfig(freq_masks=0, time_masks=0, time_warp=5)).train()
    torch.manual_seed(3)
    warped = aug(x, LENS)
    torch.manual_seed(3)
    assert torch.equal(warped, time_warp(x, LENS, 5)) and not torch.equal(warped, x)
    assert torch.equal(SpecAugment(FrontendConfig(freq_masks=0, time_masks=0)).train()(x, LENS), x)
    # masks after the warp: their zeros are not smeared by the interpolation, and padding stays as it was
    aug = SpecAugment(FrontendConfig(time_warp=5, time_mask_ratio=0.1)).train()
    x = _features()
    for seed in range(10):
        torch.manual_seed(seed)
        out = aug(x, LENS)
        for b, n in enumerate(LENS.tolist()):
            assert torch.equal(out[b, n:], x[b, n:])
            if n:
                zero = out[b, :n] == 0
                assert torch.equal(zero, zero.all(0)[None, :] | zero.all(1)[:, None])


def test_a_telephone_band_filterbank_ignores_everything_above_its_top():
    """f_max 4000: a loud 6.5 kHz tone added to the signal leaves the features as they were (an 8 kHz recording
    and a full-band one of the same speech look alike); the full-band filterbank sees it."""
    y = _signal(1.0, (440.0, 1800.0), seed=3)
    tone = (0.5 * np.sin(2 * np.pi * 6500.0 * np.arange(len(y)) / SR)).astype(np.float32)
    lens = torch.tensor([len(y)])
    for f_max, changed in ((4000.0, False), (0.0, True)):
        frontend = LogMel(FrontendConfig(n_mels=40, f_max=f_max))
        plain, _ = frontend(torch.from_numpy(y)[None], lens)
        loud, _ = frontend(torch.from_numpy(y + tone)[None], lens)
        diff = (loud - plain).abs().max().item()
        assert (diff > 1.0) if changed else (diff < 0.05), (f_max, diff)


def test_utterance_cmn_cancels_a_gain_and_ignores_the_share_of_silence_alone_or_in_a_batch():
    """utterance_cmn: a 20 dB louder take gives the same features (a gain is a constant per bin in the log
    domain); digital silence appended after the speech leaves the speech frames as they were (the mean is taken
    over frames within 30 dB of the loudest); padded in a batch == alone. Without it the gain shows."""
    y = _signal(1.0, (300.0, 1200.0), seed=4)
    y[-SR // 10 :] *= np.linspace(1.0, 0.0, SR // 10, dtype=np.float32)  # faded out, as speech ends: no click
    silence = np.zeros(SR, dtype=np.float32)
    cmn = LogMel(FrontendConfig(n_mels=40, utterance_cmn=True))
    lens = torch.tensor([len(y)])
    plain, n = cmn(torch.from_numpy(y)[None], lens)
    loud, _ = cmn(torch.from_numpy(10 * y)[None], lens)
    assert torch.allclose(loud, plain, atol=5e-3)  # up to the log floor (1e-6) in the faded tail
    assert abs(plain[0, : n[0]].mean().item()) < 1e-4
    long, m = cmn(torch.from_numpy(np.concatenate([y, silence]))[None], torch.tensor([2 * len(y)]))
    assert m[0] > n[0] + 90
    # A second of silence moves the speech frames by a few hundredths (the quiet frames of the fade that now
    # have neighbours); a mean over every frame would move them by several units.
    assert (long[0, : n[0]] - plain[0, : n[0]]).abs().max().item() < 0.1
    raw, _ = LogMel(FrontendConfig(n_mels=40))(torch.from_numpy(np.concatenate([y, silence]))[None], m)
    assert (raw[0, : m[0]].mean(0) - raw[0, : n[0]].mean(0)).abs().min().item() > 3.0
    batch = torch.zeros(2, 2 * len(y))
    batch[0, : len(y)] = torch.from_numpy(y)
    batch[1] = torch.from_numpy(np.concatenate([y, silence]))
    out, lens_b = cmn(batch, torch.tensor([len(y), 2 * len(y)]))
    assert torch.allclose(out[0, : n[0]], plain[0, : n[0]], atol=1e-4)
    assert torch.allclose(out[1, : m[0]], long[0, : m[0]], atol=1e-3)
    off = LogMel(FrontendConfig(n_mels=40))
    a, _ = off(torch.from_numpy(y)[None], lens)
    b, _ = off(torch.from_numpy(10 * y)[None], lens)
    assert (b - a).mean().item() == pytest.approx(math.log(100.0), abs=0.05)


# ---------------------------------------------------------------------------------------------------- VTLP


def test_vtlp_moves_a_tone_to_alpha_times_its_frequency_keeps_nyquist_and_alpha_one_is_the_identity():
    """A 1 kHz tone's peak lands at alpha x 1 kHz (below the knee: formants scale as in a longer or shorter vocal
    tract), the band's ends stay where they are, the energy's bins are read by interpolation (no bin left empty),
    and alpha 1 changes nothing."""
    y = _signal(0.5, (1000.0, 1000.0), seed=5)
    spec = LogMel(FrontendConfig()).mel.spectrogram(torch.from_numpy(y)[None].repeat(3, 1))  # (3, K, T)
    K = spec.shape[1]
    hz_per_bin = SR / 2 / (K - 1)
    alpha = torch.tensor([0.9, 1.0, 1.1])
    out = vtlp_warp(spec, alpha)
    assert torch.allclose(out[1], spec[1], rtol=1e-4, atol=1e-6)
    peaks = out.mean(-1).argmax(1).float() * hz_per_bin  # (3,) Hz
    assert torch.allclose(peaks, 1000.0 * alpha, atol=hz_per_bin), peaks
    assert torch.allclose(out[:, [0, -1]], spec[:, [0, -1]], rtol=1e-4, atol=1e-6)
    assert (out > 0).all()


def test_vtlp_warps_each_utterance_in_training_only(tiny_cfg):
    """In training two copies of one utterance get two warps (one factor each); in eval the frontend is the
    plain log-mel; with vtlp 0 training draws nothing."""
    from dataclasses import replace

    from asr.model import ASRModel

    torch.manual_seed(0)
    cfg = replace(tiny_cfg, frontend=replace(tiny_cfg.frontend, vtlp=0.1, freq_masks=0, time_masks=0))
    model = ASRModel(cfg)
    one = torch.from_numpy(_signal(1.0, (500.0, 2100.0), seed=6))
    wave, lens = torch.zeros(2, SR), torch.tensor([SR, SR // 2])
    wave[0], wave[1, : SR // 2] = one, one[: SR // 2]
    with torch.no_grad():
        plain, n = model.eval().frontend(wave, lens)
        warped, _ = model.train().frontend(wave, lens)
        model.cfg.frontend.vtlp = 0.0
        unwarped, _ = model.train().frontend(wave, lens)
    half = int(n[1])
    assert (warped[0, :half] - warped[1, :half]).abs().max() > 0.1  # two factors, not one per batch
    assert (warped - plain)[:, :half].abs().max() > 0.1
    assert torch.equal(unwarped, plain)
