"""Transformer decoder: causal self-attention, cross-attention over the encoder states, feed-forward.

Training: tokens (B, U) + encoder states (B, T', D) -> logits (B, U, V) in one pass.
Search: `DecoderCache` holds per-layer keys/values so each step costs one token, not the whole prefix;
`Decoder.step` feeds the newest token and returns log-probabilities (N, V) for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from asr.model.attention import KVCache, MultiHeadAttention, causal_mask, key_padding_mask
from asr.model.config import ModelConfig
from asr.model.dropout import Dropout
from asr.model.layers import FeedForward, sinusoidal_positions


@dataclass
class DecoderCache:
    """Keys/values per layer for the tokens decoded so far and for the encoder states.

    self_kv[l]: each (N, H, U, d_k); cross_kv[l]: each (N, H, T', d_k); memory_mask (N, 1, 1, T').
    N is batch x beam during search; `select` reorders/duplicates rows when hypotheses are pruned.
    """

    self_kv: list[KVCache | None]
    cross_kv: list[KVCache]
    memory_mask: Tensor

    @property
    def length(self) -> int:
        kv = self.self_kv[0]
        return 0 if kv is None else kv[0].shape[2]

    def select(self, index: Tensor) -> "DecoderCache":
        def pick(kv: KVCache | None) -> KVCache | None:
            return None if kv is None else (kv[0].index_select(0, index), kv[1].index_select(0, index))

        return DecoderCache(
            [pick(kv) for kv in self.self_kv],
            [pick(kv) for kv in self.cross_kv],
            self.memory_mask.index_select(0, index),
        )


class DecoderBlock(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(cfg.d_model)
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.heads, cfg.attn_dropout)
        self.cross_norm = nn.LayerNorm(cfg.d_model)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.heads, cfg.attn_dropout)
        self.ffn_norm = nn.LayerNorm(cfg.d_model)
        self.ffn = FeedForward(cfg.d_model, cfg.dec_ffn or cfg.ffn, cfg.dropout)
        self.drop = Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        self_mask: Tensor | None,
        memory: Tensor | None,
        memory_mask: Tensor,
        self_kv: KVCache | None = None,
        cross_kv: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, KVCache, KVCache]:
        """x (B, U, D) -> (B, U, D), cross-attention weights (B, H, U, T') or None, self and cross keys/values."""
        y, _, self_kv = self.self_attn(self.self_norm(x), mask=self_mask, kv=self_kv, append_kv=self_kv is not None)
        x = x + self.drop(y)
        y, w, cross_kv = self.cross_attn(
            self.cross_norm(x), source=memory, mask=memory_mask, kv=cross_kv, need_weights=need_weights
        )
        x = x + self.drop(y)
        x = x + self.drop(self.ffn(self.ffn_norm(x)))
        return x, w, self_kv, cross_kv


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)  # N(0, 1), not scaled by sqrt(D)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.dec_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.vocab_size)

    def _embed(self, tokens: Tensor, offset: int) -> Tensor:
        x = self.embed(tokens)  # (B, U, D)
        return self.drop(x + sinusoidal_positions(tokens.shape[1], x.shape[2], offset, x.device))

    def forward(
        self, tokens: Tensor, memory: Tensor, memory_lens: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, list[Tensor]]:
        """tokens (B, U) starting with <sos>, memory (B, T', D) -> logits (B, U, V) and per-layer
        cross-attention weights [(B, H, U, T')] when need_weights (else [])."""
        x = self._embed(tokens, 0)
        self_mask = causal_mask(tokens.shape[1], tokens.device)  # (U, U)
        memory_mask = key_padding_mask(memory_lens, memory.shape[1])  # (B, 1, 1, T')
        weights = []
        for block in self.blocks:
            x, w, _, _ = block(x, self_mask, memory, memory_mask, need_weights=need_weights)
            if w is not None:
                weights.append(w)
        return self.out(self.norm(x)), weights

    def init_cache(self, memory: Tensor, memory_lens: Tensor) -> DecoderCache:
        """Project the encoder states to keys/values once per utterance: memory (N, T', D)."""
        # Contiguous: every search step reads these, and attention over strided keys/values costs ~2x.
        cross = [tuple(t.contiguous() for t in block.cross_attn.project_kv(memory)) for block in self.blocks]
        return DecoderCache([None] * len(self.blocks), cross, key_padding_mask(memory_lens, memory.shape[1]))

    def step(self, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]:
        """Feed the newest tokens (N, 1) (or several at once, (N, k)) after those already in the cache.

        Returns log-probabilities (N, V) for the token after the last one fed, and the extended cache.
        """
        offset = cache.length
        x = self._embed(tokens, offset)
        k = tokens.shape[1]
        self_mask = None if k == 1 else causal_mask(k, tokens.device, offset)  # one new token may see all
        new_self = []
        for i, block in enumerate(self.blocks):
            x, _, skv, _ = block(
                x, self_mask, None, cache.memory_mask, self_kv=cache.self_kv[i] or _empty_kv(block, x),
                cross_kv=cache.cross_kv[i],
            )
            new_self.append(skv)
        logits = self.out(self.norm(x[:, -1]))  # (N, V)
        return torch.log_softmax(logits.float(), dim=-1), DecoderCache(new_self, cache.cross_kv, cache.memory_mask)


def _empty_kv(block: DecoderBlock, x: Tensor) -> KVCache:
    attn = block.self_attn
    empty = x.new_zeros(x.shape[0], attn.heads, 0, attn.d_k)  # (N, H, 0, d_k)
    return empty, empty
