"""Building blocks shared by the encoder and decoder: positions (absolute, relative), feed-forward, conv subsampling,
conv module."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from asr.model.dropout import Dropout


def sinusoidal_positions(length: int, d_model: int, offset: int = 0, device=None) -> Tensor:
    """(length, D) sinusoidal positions starting at `offset` (Vaswani et al.)."""
    return sinusoids(torch.arange(offset, offset + length, device=device), d_model)


def sinusoids(pos: Tensor, d_model: int) -> Tensor:
    """(c,) integer positions -> (c, D): sin in the even columns, cos in the odd ones. A tensor of positions, so an
    exported graph (asr.runtime.graphs) can start them at a cache's length."""
    p = pos.to(torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, device=pos.device, dtype=torch.float32)
                    * (-math.log(10000.0) / d_model))
    return torch.stack([torch.sin(p * div), torch.cos(p * div)], dim=-1).reshape(pos.shape[0], d_model)


def relative_positions(length: int, d_model: int, device=None) -> Tensor:
    """(2 * length - 1, D) sinusoids of the relative positions length-1, ..., 0, ..., -(length-1), in the order
    `rel_shift` reads them (ESPnet's "latest" RelPositionalEncoding)."""
    return sinusoidal_positions(2 * length - 1, d_model, offset=1 - length, device=device).flip(0)


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, ffn), nn.GELU(), Dropout(dropout), nn.Linear(ffn, d_model)
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, T, D)
        return self.net(x)


# On the CPU the front-end runs a few utterances at a time so that the first convolution's output (about this
# many floats, ~6 MB) is still in cache when the next one reads it: 2-3x faster than the whole batch at once
# (B 32 x 1000 frames, 64 channels, inference: 409 -> 146 ms; B 16 x 300, training: 114 -> 66 ms; 2 threads).
CPU_CHUNK_ELEMENTS = 1_500_000

# (kernel, stride) of each Conv2d layer for each subsampling factor, as in ESPnet's Conv2dSubsampling{,6,8}.
SUBSAMPLING_LAYERS = {4: [(3, 2), (3, 2)], 6: [(3, 2), (5, 3)], 8: [(3, 2), (3, 2), (3, 2)]}


def receptive_field(layers: list[tuple[int, int]]) -> int:
    """Input frames one output frame of a stack of (kernel, stride) layers sees: 1 + sum (k - 1) x (product of
    the earlier strides)."""
    field, stride = 1, 1
    for k, s in layers:
        field += (k - 1) * stride
        stride *= s
    return field


class ConvSubsampling(nn.Module):
    """Log-mel (B, T, F) -> (B, T', D), T' ~ T / factor, then LayerNorm.

    No padding along time, so each output frame only sees input frames of its own utterance. The LayerNorm
    before positions are added keeps the frontend's scale comparable to the positions' (it decides whether a
    small model converges; see the demo calibration notes).
    """

    def __init__(self, n_mels: int, d_model: int, channels: int, factor: int) -> None:
        super().__init__()
        if factor not in SUBSAMPLING_LAYERS:
            raise ValueError(f"subsampling must be one of {sorted(SUBSAMPLING_LAYERS)}, got {factor}")
        self.layers = SUBSAMPLING_LAYERS[factor]
        convs, f, c_in = [], n_mels, 1
        for k, s in self.layers:
            convs += [nn.Conv2d(c_in, channels, k, s), nn.ReLU()]
            f, c_in = (f - k) // s + 1, channels
        self.conv = nn.Sequential(*convs)
        self.channels = channels
        self.proj = nn.Linear(channels * f, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.min_frames = receptive_field(self.layers)  # input frames that give one output frame: 15 for x8

    def output_lengths(self, lens: Tensor) -> Tensor:
        for k, s in self.layers:
            lens = torch.div(lens - k, s, rounding_mode="floor") + 1
        return lens.clamp(min=1)  # an utterance shorter than the receptive field still gets one frame

    def forward(self, x: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        if torch.compiler.is_exporting():  # one graph for every length (asr.export.onnx): pad by a symbolic amount
            x = nn.functional.pad(x, (0, 0, 0, torch.sym_max(0, self.min_frames - x.shape[1])))
        elif x.shape[1] < self.min_frames:  # a batch of only very short utterances: pad so each gets its one frame
            x = nn.functional.pad(x, (0, 0, 0, self.min_frames - x.shape[1]))
        x = self._convolve(x.unsqueeze(1))  # (B, C, T', F')
        B, C, T, F = x.shape
        x = self.proj(x.transpose(1, 2).reshape(B, T, C * F))  # (B, T', D)
        return self.norm(x), self.output_lengths(lens)

    def _convolve(self, x: Tensor) -> Tensor:
        """(B, 1, T, F) -> (B, C, T', F'); on the CPU in chunks of utterances (see CPU_CHUNK_ELEMENTS)."""
        if torch.compiler.is_exporting():  # the graph's runtime manages its own memory
            return self.conv(x)
        (k, s), (B, _, T, F) = self.layers[0], x.shape
        per_utterance = self.channels * ((T - k) // s + 1) * ((F - k) // s + 1)
        n = max(1, CPU_CHUNK_ELEMENTS // per_utterance)
        if x.device.type != "cpu" or n >= B:
            return self.conv(x)
        return torch.cat([self.conv(chunk) for chunk in x.split(n)])


class ConvModule(nn.Module):
    """Conformer-style: pointwise conv + GLU, depthwise conv over time, LayerNorm, SiLU, pointwise conv.

    Padded frames are zeroed first so the depthwise kernel never reads another utterance's padding; LayerNorm
    instead of BatchNorm keeps an utterance's output independent of its batch. `causal`: the kernel's k frames
    end at the current one (k - 1 zero frames on the left), so a stream computes it chunk by chunk with the last
    k - 1 input frames as its cache (`step`) and gets what the whole utterance gets.
    """

    def __init__(self, d_model: int, kernel: int, dropout: float, causal: bool = False) -> None:
        super().__init__()
        self.pw1 = nn.Conv1d(d_model, 2 * d_model, 1)
        self.dw = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.norm = nn.LayerNorm(d_model)
        self.pw2 = nn.Conv1d(d_model, d_model, 1)
        self.drop = Dropout(dropout)
        self.causal = causal

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:  # (B, T', D), (B, T') -> (B, T', D)
        x = self._gated(x, valid)
        k = self.dw.kernel_size[0]
        left, right = (k - 1, 0) if self.causal else (k // 2, k // 2)
        return self._depthwise_out(nn.functional.pad(x, (0, 0, left, right)))

    def step(self, x: Tensor, cache: Tensor | None) -> tuple[Tensor, Tensor]:
        """One chunk of a stream (causal only): x (B, c, D), cache (B, k - 1, D) the previous chunks' last gated
        frames (None: the stream's start, zeros) -> (B, c, D), the next cache."""
        assert self.causal, "a centred kernel cannot run chunk by chunk"
        k = self.dw.kernel_size[0]
        x = self._gated(x, torch.ones(x.shape[:2], dtype=torch.bool, device=x.device))
        if cache is None:
            cache = x.new_zeros(x.shape[0], k - 1, x.shape[2])
        x = torch.cat([cache.to(x.dtype), x], dim=1)  # (B, k - 1 + c, D)
        return self._depthwise_out(x), x[:, x.shape[1] - (k - 1):]

    def _gated(self, x: Tensor, valid: Tensor) -> Tensor:
        """(B, T', D) -> pointwise conv + GLU (B, T', D), zero on padded frames."""
        # Channels stay last throughout: the pointwise convs are matmuls, and the depthwise conv runs as a
        # channels-last Conv2d, since (B, T', D) is (B, D, 1, T') in NHWC without a copy (1.7x faster on the CPU
        # than Conv1d on (B, D, T'), same parameters).
        pad = ~valid[..., None]  # (B, T', 1)
        x = nn.functional.linear(x.masked_fill(pad, 0.0), self.pw1.weight.squeeze(-1), self.pw1.bias)  # (B, T', 2D)
        return nn.functional.glu(x, dim=-1).masked_fill(pad, 0.0)  # (B, T', D)

    def _depthwise_out(self, x: Tensor) -> Tensor:
        """Gated frames already padded for the kernel (B, T' + k - 1, D) -> the module's output (B, T', D)."""
        if x.device.type == "cpu":  # fp32 under CPU autocast too: for some input shapes oneDNN spends minutes
            x = x.float()           # generating its bf16 depthwise kernel (a bf16-mixed demo stalled at step 162)
        with torch.autocast("cpu", enabled=False):
            x = nn.functional.conv2d(
                x.transpose(1, 2).unsqueeze(2), self.dw.weight.unsqueeze(2), self.dw.bias, groups=self.dw.groups,
            ).squeeze(2).transpose(1, 2)  # (B, D, 1, T') channels-last -> (B, T', D)
        x = nn.functional.silu(self.norm(x))
        return self.drop(nn.functional.linear(x, self.pw2.weight.squeeze(-1), self.pw2.bias))  # (B, T', D)
