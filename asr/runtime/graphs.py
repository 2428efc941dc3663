"""The network cut into the graphs a deployment runs, each a small nn.Module over plain tensors (no dataclasses,
no Python branches on a length) so `torch.onnx.export(..., dynamo=True)` traces one graph for every batch and
length:

  encoder        wave (B, S) float32, wave_lens (B,) int64 -> enc (B, T', D), enc_lens (B,)
                 (log-mel, CMVN and the encoder inside; the STFT as `DFTSpectrogram`, see below)
  ctc            enc (B, T', D) -> log_probs (B, T', V)
  decoder_init   memory (N, T', D) -> per decoder layer the cross-attention keys and values (N, H, T', d_k):
                 once per utterance
  decoder_step   tokens (N, k), memory_mask (N, 1, 1, T') bool, per layer self_k/self_v (N, H, U, d_k) (U = 0 at
                 the first step) and cross_k/cross_v -> log_probs (N, k, V) for the token after each of the k,
                 and per layer the self-attention keys/values extended to (N, H, U + k, d_k)
  features       wave (B, S), wave_lens (B,) -> log-mel (B, T, F) before CMVN, frames (B,): what a stream reads
  encoder_chunk  (models that stream, `ModelConfig.streams`) feats (B, Tc, F) normalised, offset () int64 (the
                 chunk's first encoder position), per block k/v (B, H, L, d_k) and the conv module's cache
                 (B, kernel - 1, D) -> states (B, c, D), per block k/v (B, H, L + c, d_k) and the new conv cache

Each graph computes what the eager module computes, with the same modules' weights (tests/test_onnx.py). One
module is swapped for the export: torch.stft exports faithfully as ONNX's STFT, but onnxruntime runs that op ~20x
slower than torch's FFT (5 s of audio: 24 ms against 1.2 ms, more than the whole encoder), so the power spectrum
is exported as one strided convolution with the windowed DFT basis as its kernel (`DFTSpectrogram`: the same
numbers to fp32 rounding, ~3 ms).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from asr.model.asr_model import ASRModel
from asr.model.decoder import Decoder
from asr.model.encoder import Encoder
from asr.model.layers import sinusoids


class DFTSpectrogram(nn.Module):
    """torchaudio's `Spectrogram` (center=False, power 2, onesided) as a Conv1d whose 2K output channels are the
    window times cos and sin of the DFT: wave (B, S) -> power (B, K, T), K = n_fft // 2 + 1."""

    def __init__(self, spec: nn.Module) -> None:
        super().__init__()
        n_fft, hop, win = spec.n_fft, spec.hop_length, spec.win_length
        assert not spec.center and spec.power == 2.0 and not spec.normalized and spec.pad == 0, "not LogMel's STFT"
        window = torch.zeros(n_fft, dtype=torch.float64)
        left = (n_fft - win) // 2
        window[left: left + win] = spec.window.double()  # torch.stft centres a shorter window in the FFT
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        n = torch.arange(n_fft, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * k * n / n_fft  # (K, n_fft)
        basis = torch.cat([torch.cos(angle), torch.sin(angle)]) * window  # (2K, n_fft)
        self.register_buffer("basis", basis.float()[:, None, :])  # (2K, 1, n_fft)
        self.hop, self.bins = hop, n_fft // 2 + 1

    def forward(self, wave: Tensor) -> Tensor:
        y = nn.functional.conv1d(wave[:, None, :], self.basis, stride=self.hop)  # (B, 2K, T)
        return y[:, : self.bins] ** 2 + y[:, self.bins:] ** 2


def for_export(net: ASRModel) -> ASRModel:
    """`net` (a copy that is only exported) with its STFT swapped for `DFTSpectrogram`."""
    net.features.mel.spectrogram = DFTSpectrogram(net.features.mel.spectrogram)
    return net


class EncoderGraph(nn.Module):
    def __init__(self, net: ASRModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        enc, enc_lens, _ = self.net.encode(wave, wave_lens)
        return enc, enc_lens


class CTCGraph(nn.Module):
    def __init__(self, net: ASRModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, enc: Tensor) -> Tensor:
        return self.net.ctc_log_probs(enc)


class FeaturesGraph(nn.Module):
    def __init__(self, net: ASRModel) -> None:
        super().__init__()
        self.features = net.features

    def forward(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.features(wave, wave_lens)


class DecoderInitGraph(nn.Module):
    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, memory: Tensor) -> tuple[Tensor, ...]:
        out: list[Tensor] = []
        for block in self.decoder.blocks:
            out.extend(block.cross_attn.project_kv(memory))
        return tuple(out)


class DecoderStepGraph(nn.Module):
    """`Decoder.step` with its cache as flat tensors: self_k_0, self_v_0, ..., then cross_k_0, cross_v_0, ..."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, tokens: Tensor, memory_mask: Tensor, *cache: Tensor) -> tuple[Tensor, ...]:
        dec = self.decoder
        L = len(dec.blocks)
        past, k = cache[0].shape[2], tokens.shape[1]
        x = dec.embed(tokens) + sinusoids(torch.arange(k) + past, dec.embed.embedding_dim)  # (N, k, D)
        # token i (at position past + i) sees the cached ones and the new ones up to itself; with k = 1 all True,
        # which the attention computes as the eager step's "no mask"
        mask = (torch.arange(past + k)[None, :] <= torch.arange(k)[:, None] + past)  # (k, U + k)
        new: list[Tensor] = []
        for i, block in enumerate(dec.blocks):
            x, _, (sk, sv), _ = block(x, mask, None, memory_mask, self_kv=(cache[2 * i], cache[2 * i + 1]),
                                      cross_kv=(cache[2 * L + 2 * i], cache[2 * L + 2 * i + 1]))
            new += [sk, sv]
        log_probs = torch.log_softmax(dec.out(dec.norm(x)).float(), dim=-1)  # (N, k, V)
        return (log_probs, *new)


class EncoderChunkGraph(nn.Module):
    """`Encoder.forward_chunk` with its cache as flat tensors: k_0, v_0, ..., then conv_0, ... (conv modules only);
    the keys/values come back whole (the caller keeps the left context it wants)."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, feats: Tensor, offset: Tensor, *cache: Tensor) -> tuple[Tensor, ...]:
        enc = self.encoder
        L = len(enc.blocks)
        x, _ = enc.subsample(feats, torch.full(feats.shape[:1], feats.shape[1], dtype=torch.long))
        c = x.shape[1]
        x = x + sinusoids(torch.arange(c) + offset, x.shape[2])
        kvs: list[Tensor] = []
        convs: list[Tensor] = []
        j = 2 * L
        for i, block in enumerate(enc.blocks):
            conv = None
            if block.conv is not None:
                conv, j = cache[j], j + 1
            x, (k, v), conv = block.forward_chunk(x, (cache[2 * i], cache[2 * i + 1]), conv, -1)
            kvs += [k, v]
            if conv is not None:
                convs.append(conv)
        return (enc.norm(x), *kvs, *convs)
