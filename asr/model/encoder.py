"""Encoder: conv subsampling, then pre-norm blocks, transformer or conformer by three independent flags.

(B, T, F) log-mel + lengths -> (B, T', D) encoder states + lengths.

    transformer (defaults)  x + MHSA(LN x) [+ Conv(LN x)] + FF(LN x), sinusoidal positions added to the input
    conformer               x + FF(LN x)/2 + MHSA_rel(LN x) + Conv(LN x) + FF(LN x)/2, then LN (Gulati et al. 2020)

`pos_enc: rel` moves positions into self-attention (asr/model/attention.py), `macaron_ffn` splits the
feed-forward into the two half steps around attention and adds the block's final LayerNorm, `conv_module` adds
the convolution; all three on is ESPnet's and WeNet's conformer block (with LayerNorm instead of BatchNorm in
the conv module and GELU in the feed-forwards, as the transformer blocks here have).
"""

from __future__ import annotations

from torch import Tensor, nn

from asr.model.attention import MultiHeadAttention, key_padding_mask
from asr.model.config import ModelConfig
from asr.model.dropout import Dropout
from asr.model.layers import ConvModule, ConvSubsampling, FeedForward, relative_positions, sinusoidal_positions


class EncoderBlock(nn.Module):
    """[x + FF(LN(x))/2] + SelfAttention(LN(x)) [+ Conv(LN(x))] + FeedForward(LN(x)) [/2, LN], each residual with
    dropout; the bracketed parts by the config's flags."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        # Made only when used, in the order of the older block's, so older model files load unchanged.
        self.macaron_norm = nn.LayerNorm(d) if cfg.macaron_ffn else None
        self.macaron = FeedForward(d, cfg.ffn, cfg.dropout) if cfg.macaron_ffn else None
        self.attn_norm = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, cfg.heads, cfg.attn_dropout, rel_pos=cfg.pos_enc == "rel")
        self.conv_norm = nn.LayerNorm(d) if cfg.conv_module else None
        self.conv = ConvModule(d, cfg.conv_kernel, cfg.dropout) if cfg.conv_module else None
        self.ffn_norm = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.ffn, cfg.dropout)
        self.ffn_scale = 0.5 if cfg.macaron_ffn else 1.0
        self.final_norm = nn.LayerNorm(d) if cfg.macaron_ffn else None
        self.drop = Dropout(cfg.dropout)

    def forward(
        self, x: Tensor, mask: Tensor, need_weights: bool = False, pos: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T', D), mask (B, 1, 1, T'), pos (2T' - 1, D) for relative positions -> (B, T', D), weights
        (B, H, T', T') or None."""
        if self.macaron is not None:
            x = x.add(self.drop(self.macaron(self.macaron_norm(x))), alpha=0.5)
        y, w, _ = self.attn(self.attn_norm(x), mask=mask, need_weights=need_weights, pos=pos)
        x = x + self.drop(y)
        if self.conv is not None:
            x = x + self.conv(self.conv_norm(x), mask[:, 0, 0, :])
        x = x.add(self.drop(self.ffn(self.ffn_norm(x))), alpha=self.ffn_scale)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, w


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.subsample = ConvSubsampling(cfg.frontend.n_mels, cfg.d_model, cfg.subsampling_channels, cfg.subsampling)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.enc_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.rel_pos = cfg.pos_enc == "rel"

    def forward(
        self, feats: Tensor, lens: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """feats (B, T, F), lens (B,) -> states (B, T', D), lens (B,), per-layer self-attention weights
        [(B, H, T', T')] when need_weights (else [])."""
        x, lens = self.subsample(feats, lens)  # (B, T', D)
        T, D = x.shape[1], x.shape[2]
        pos = None
        if self.rel_pos:
            # No sqrt(D) scaling of x as in ESPnet's RelPositionalEncoding: the subsampling's LayerNorm already sets
            # its scale, and nothing is added to it here. Dropout on x only, not on the positions.
            pos = relative_positions(T, D, device=x.device)  # (2T' - 1, D)
            x = self.drop(x)
        else:
            # Positions are added unscaled after the LayerNorm: scaling by sqrt(D) would drown them.
            x = self.drop(x + sinusoidal_positions(T, D, device=x.device))
        mask = key_padding_mask(lens, T)  # (B, 1, 1, T')
        weights = []
        for block in self.blocks:
            x, w = block(x, mask, need_weights, pos)
            if w is not None:
                weights.append(w)
        return self.norm(x), lens, weights
