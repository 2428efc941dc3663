"""Encoder: conv subsampling, then pre-norm blocks, transformer or conformer by three independent flags.

(B, T, F) log-mel + lengths -> (B, T', D) encoder states + lengths.

    transformer (defaults)  x + MHSA(LN x) [+ Conv(LN x)] + FF(LN x), sinusoidal positions added to the input
    conformer               x + FF(LN x)/2 + MHSA_rel(LN x) + Conv(LN x) + FF(LN x)/2, then LN (Gulati et al. 2020)

`pos_enc: rel` moves positions into self-attention (asr/model/attention.py), `macaron_ffn` splits the
feed-forward into the two half steps around attention and adds the block's final LayerNorm, `conv_module` adds
the convolution; all three on is ESPnet's and WeNet's conformer block (with LayerNorm instead of BatchNorm in
the conv module and GELU in the feed-forwards, as the transformer blocks here have).

Streaming (WeNet's U2, Zhang et al. 2020): under a chunk mask a frame attends to its own chunk of `chunk`
frames and to `left_chunks` chunks before it (all of them when < 0); with a causal conv module nothing reads
ahead of the chunk, so `forward_chunk` computes the same states chunk by chunk, carrying each block's keys and
values and the conv module's last frames (`EncoderCache`). Trained with `dynamic_chunk` (a random chunk per batch,
full context half the time) one model decodes with any chunk size, and offline as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from asr.model.attention import KVCache, MultiHeadAttention, key_padding_mask
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
        self.conv = ConvModule(d, cfg.conv_kernel, cfg.dropout, cfg.causal) if cfg.conv_module else None
        self.ffn_norm = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.ffn, cfg.dropout)
        self.ffn_scale = 0.5 if cfg.macaron_ffn else 1.0
        self.final_norm = nn.LayerNorm(d) if cfg.macaron_ffn else None
        self.drop = Dropout(cfg.dropout)

    def forward(
        self, x: Tensor, mask: Tensor, need_weights: bool = False, pos: Tensor | None = None,
        valid: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T', D), mask (B, 1, 1, T') or under a chunk mask (B, 1, T', T'), pos (2T' - 1, D) for relative
        positions, valid (B, T') the real frames (None: mask's first row) -> (B, T', D), weights (B, H, T', T')
        or None."""
        if self.macaron is not None:
            x = x.add(self.drop(self.macaron(self.macaron_norm(x))), alpha=0.5)
        y, w, _ = self.attn(self.attn_norm(x), mask=mask, need_weights=need_weights, pos=pos)
        x = x + self.drop(y)
        if self.conv is not None:
            x = x + self.conv(self.conv_norm(x), mask[:, 0, 0, :] if valid is None else valid)
        x = x.add(self.drop(self.ffn(self.ffn_norm(x))), alpha=self.ffn_scale)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, w

    def forward_chunk(
        self, x: Tensor, kv: KVCache | None, conv: Tensor | None, keep: int
    ) -> tuple[Tensor, KVCache, Tensor | None]:
        """One chunk x (B, c, D) after the chunks whose keys/values are `kv` (each (B, H, L, d_k)) and whose last
        gated conv frames are `conv` -> (B, c, D), the keys/values of the last `keep` frames (all when < 0), the
        conv cache. The chunk sees all of itself and all of `kv`: what the chunk mask lets it see."""
        if self.macaron is not None:
            x = x.add(self.macaron(self.macaron_norm(x)), alpha=0.5)
        y, _, (k, v) = self.attn(self.attn_norm(x), kv=kv, append_kv=kv is not None)
        x = x + y
        if self.conv is not None:
            c, conv = self.conv.step(self.conv_norm(x), conv)
            x = x + c
        x = x.add(self.ffn(self.ffn_norm(x)), alpha=self.ffn_scale)
        if self.final_norm is not None:
            x = self.final_norm(x)
        if keep >= 0:
            k, v = k[:, :, k.shape[2] - min(keep, k.shape[2]):], v[:, :, v.shape[2] - min(keep, v.shape[2]):]
        return x, (k, v), conv


@dataclass(frozen=True)
class EncoderCache:
    """What a stream carries from chunk to chunk: per block the attention's keys/values (each (B, H, L, d_k)) and
    the conv module's last gated frames (B, k - 1, D) (None without a conv module), and the frames done so far."""

    kv: tuple[KVCache, ...]
    conv: tuple[Tensor | None, ...]
    offset: int  # encoder frames already computed: the next chunk's first position


def chunk_mask(T: int, chunk: int, left_chunks: int = -1, device: torch.device | None = None) -> Tensor:
    """(T', T') boolean, True where frame i may attend frame j: j's chunk is i's or one of the `left_chunks`
    before it (every earlier chunk when < 0). chunk <= 0: full context (all True)."""
    if chunk <= 0:
        return torch.ones(T, T, dtype=torch.bool, device=device)
    c = torch.arange(T, device=device) // chunk  # (T',) chunk of each frame
    mask = c[None, :] <= c[:, None]
    if left_chunks >= 0:
        mask &= c[None, :] >= c[:, None] - left_chunks
    return mask


def random_chunk(T: int, max_chunk: int, dynamic_left: bool) -> tuple[int, int]:
    """WeNet's dynamic chunk for one batch of T' frames: (chunk, left_chunks); full context half of the time,
    else a chunk of 1..max_chunk frames, and with `dynamic_left` a random number of chunks to the left."""
    draw = int(torch.randint(1, max(T, 2), (1,)))
    if draw > T // 2:
        return 0, -1
    chunk = draw % max_chunk + 1
    if not dynamic_left:
        return chunk, -1
    return chunk, int(torch.randint(0, max(1, (T - 1) // chunk), (1,)))


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.subsample = ConvSubsampling(cfg.frontend.n_mels, cfg.d_model, cfg.subsampling_channels, cfg.subsampling)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.enc_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.rel_pos = cfg.pos_enc == "rel"
        self.cfg = cfg

    def forward(
        self, feats: Tensor, lens: Tensor, need_weights: bool = False, chunk: int = 0, left_chunks: int = -1
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """feats (B, T, F), lens (B,) -> states (B, T', D), lens (B,), per-layer self-attention weights
        [(B, H, T', T')] when need_weights (else []). chunk > 0: under the chunk mask (`chunk_mask`); in training
        with `dynamic_chunk` a random one per batch."""
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
        valid = mask[:, 0, 0, :]  # (B, T')
        if self.training and self.cfg.dynamic_chunk and chunk == 0:
            chunk, left_chunks = random_chunk(T, self.cfg.max_chunk, self.cfg.dynamic_left_chunks)
        if chunk > 0:
            # A padded frame may see itself: a row with nothing to attend to would be NaN and spread through
            # the values; real frames are unchanged (they always see themselves).
            eye = torch.eye(T, dtype=torch.bool, device=x.device)
            mask = (mask & chunk_mask(T, chunk, left_chunks, x.device)) | eye  # (B, 1, T', T')
        weights = []
        for block in self.blocks:
            x, w = block(x, mask, need_weights, pos, valid)
            if w is not None:
                weights.append(w)
        return self.norm(x), lens, weights

    def stride(self) -> tuple[int, int]:
        """(input frames per encoder frame, input frames one encoder frame sees): a chunk of c encoder frames
        reads (c - 1) * stride + field log-mel frames and the next chunk starts c * stride frames later."""
        return self.cfg.subsampling, self.subsample.min_frames

    def forward_chunk(self, feats: Tensor, cache: EncoderCache | None, left_frames: int = -1
                      ) -> tuple[Tensor, EncoderCache]:
        """One chunk of a stream: feats (B, (c - 1) * stride + field, F) normalised log-mel -> states (B, c, D),
        the cache for the next chunk, which keeps the last `left_frames` frames' keys/values (all when < 0).
        Chunk by chunk, the states equal `forward`'s under `chunk_mask(T', c, left_chunks)` with left_frames =
        left_chunks * c (positions absolute, conv module causal); the last chunk may be shorter."""
        if self.rel_pos:
            raise ValueError("streaming needs pos_enc: abs (relative positions across the key/value cache are not "
                             "implemented); train a streaming config (recipes/*/streaming.yaml)")
        if any(b.conv is not None and not b.conv.causal for b in self.blocks):
            raise ValueError("this model's conv module reads ahead (causal: false): it cannot run chunk by chunk; "
                             "decode it whole, or train a streaming config (recipes/*/streaming.yaml)")
        x, _ = self.subsample(feats, torch.full(feats.shape[:1], feats.shape[1], device=feats.device))
        c, D = x.shape[1], x.shape[2]
        offset = 0 if cache is None else cache.offset
        x = x + sinusoidal_positions(c, D, offset=offset, device=x.device)
        kvs, convs = [], []
        for i, block in enumerate(self.blocks):
            x, kv, conv = block.forward_chunk(
                x, None if cache is None else cache.kv[i], None if cache is None else cache.conv[i], left_frames
            )
            kvs.append(kv)
            convs.append(conv)
        return self.norm(x), EncoderCache(tuple(kvs), tuple(convs), offset + c)
