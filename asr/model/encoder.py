"""Transformer encoder: conv subsampling, sinusoidal positions, pre-norm self-attention blocks.

(B, T, F) log-mel + lengths -> (B, T', D) encoder states + lengths.
"""

from __future__ import annotations

from torch import Tensor, nn

from asr.model.attention import MultiHeadAttention, key_padding_mask
from asr.model.config import ModelConfig
from asr.model.dropout import Dropout
from asr.model.layers import ConvModule, ConvSubsampling, FeedForward, sinusoidal_positions


class EncoderBlock(nn.Module):
    """x + SelfAttention(LN(x)) [+ Conv(LN(x))] + FeedForward(LN(x)), each residual with dropout."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.heads, cfg.attn_dropout)
        self.conv_norm = nn.LayerNorm(cfg.d_model) if cfg.conv_module else None
        self.conv = ConvModule(cfg.d_model, cfg.conv_kernel, cfg.dropout) if cfg.conv_module else None
        self.ffn_norm = nn.LayerNorm(cfg.d_model)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn, cfg.dropout)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, T', D), mask (B, 1, 1, T') -> (B, T', D), weights (B, H, T', T') or None."""
        y, w, _ = self.attn(self.attn_norm(x), mask=mask, need_weights=need_weights)
        x = x + self.drop(y)
        if self.conv is not None:
            x = x + self.conv(self.conv_norm(x), mask[:, 0, 0, :])
        x = x + self.drop(self.ffn(self.ffn_norm(x)))
        return x, w


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.subsample = ConvSubsampling(cfg.frontend.n_mels, cfg.d_model, cfg.subsampling_channels, cfg.subsampling)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.enc_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self, feats: Tensor, lens: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """feats (B, T, F), lens (B,) -> states (B, T', D), lens (B,), per-layer self-attention weights
        [(B, H, T', T')] when need_weights (else [])."""
        x, lens = self.subsample(feats, lens)  # (B, T', D)
        # Positions are added unscaled after the LayerNorm: scaling by sqrt(D) would drown them.
        x = self.drop(x + sinusoidal_positions(x.shape[1], x.shape[2], device=x.device))
        mask = key_padding_mask(lens, x.shape[1])  # (B, 1, 1, T')
        weights = []
        for block in self.blocks:
            x, w = block(x, mask, need_weights)
            if w is not None:
                weights.append(w)
        return self.norm(x), lens, weights
