"""A decoder-only transformer language model over the acoustic model's units.

tokens (B, U) starting with <sos> -> logits (B, U, V) for the next unit at each position; `step` feeds the newest
tokens (N, k) after a `LMCache` and returns log-probs (N, V) for the next one, as `asr.model.decoder.Decoder`
does for the attention decoder (the same attention, feed-forward and positions; no cross-attention).
Ids follow `asr.tokenizer`: 0 = <blank> (never predicted), 1 = <sos/eos>, 2 = <unk>.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.model.asr_model import IGNORE, decoder_io, pad_targets
from asr.model.attention import KVCache, MultiHeadAttention, causal_mask, key_padding_mask
from asr.model.dropout import Dropout
from asr.model.layers import FeedForward, sinusoidal_positions
from asr.tokenizer import SOS_EOS

__all__ = ["IGNORE", "LMCache", "LMConfig", "TransformerLM"]


@dataclass
class LMConfig:
    vocab_size: int = 0  # V, specials included: the acoustic model's tokenizer's
    d_model: int = 256  # D
    heads: int = 4  # H
    layers: int = 4
    ffn: int = 1024
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LMCache:
    """Keys/values per layer, each (N, H, U, d_k), for the tokens fed so far (<sos> included)."""

    kv: list[KVCache]

    @property
    def length(self) -> int:
        return self.kv[0][0].shape[2]

    def select(self, index: Tensor) -> LMCache:
        """Rows `index` (N',) of the cache: hypotheses kept or duplicated by the beam."""
        return LMCache([(k.index_select(0, index), v.index_select(0, index)) for k, v in self.kv])


class LMBlock(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.heads)
        self.ffn_norm = nn.LayerNorm(cfg.d_model)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn, cfg.dropout)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, kv: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """x (B, U, D) -> (B, U, D) and the keys/values of everything seen (cached ones + x's)."""
        y, _, kv = self.attn(self.attn_norm(x), mask=mask, kv=kv, append_kv=kv is not None)
        x = x + self.drop(y)
        return x + self.drop(self.ffn(self.ffn_norm(x))), kv


class TransformerLM(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= SOS_EOS:
            raise ValueError("LMConfig.vocab_size is unset: build the LM with the tokenizer's vocab_size")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(LMBlock(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.vocab_size)

    def _embed(self, tokens: Tensor, offset: int) -> Tensor:
        x = self.embed(tokens)  # (B, U, D)
        return self.drop(x + sinusoidal_positions(tokens.shape[1], x.shape[2], offset, x.device))

    def forward(self, tokens: Tensor, lens: Tensor | None = None) -> Tensor:
        """tokens (B, U) starting with <sos> [, lengths (B,)] -> logits (B, U, V). Padding after `lens` is
        masked out as keys, so a row's logits do not depend on how far the batch is padded."""
        U = tokens.shape[1]
        mask = causal_mask(U, tokens.device)  # (U, U)
        if lens is not None:
            mask = mask & key_padding_mask(lens, U)  # (B, 1, U, U)
        x = self._embed(tokens, 0)
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.out(self.norm(x))

    def init_cache(self, n: int, device: torch.device) -> tuple[Tensor, LMCache]:
        """Feed <sos> to `n` rows: log-probs (n, V) of the first unit and the cache after <sos>."""
        return self.step(torch.full((n, 1), SOS_EOS, dtype=torch.long, device=device), None)

    def step(self, tokens: Tensor, cache: LMCache | None) -> tuple[Tensor, LMCache]:
        """Feed tokens (N, k) after those in `cache` (None: nothing yet) -> log-probs (N, V) after the last one
        and the extended cache."""
        offset = 0 if cache is None else cache.length
        k = tokens.shape[1]
        mask = None if k == 1 else causal_mask(k, tokens.device, offset)
        x = self._embed(tokens, offset)
        kv = []
        for i, block in enumerate(self.blocks):
            x, layer_kv = block(x, mask, _empty(block, x) if cache is None else cache.kv[i])
            kv.append(layer_kv)
        return torch.log_softmax(self.out(self.norm(x[:, -1])).float(), dim=-1), LMCache(kv)

    def loss(self, tokens: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Unit sequences (B, U) padded with IGNORE, lengths (B,) -> (summed negative log-likelihood of every unit
        and <eos>, number of predicted positions)."""
        ys_in, ys_out = decoder_io(tokens, lens)  # <sos> y, y <eos>: as the attention decoder is taught
        logits = self(ys_in, lens + 1)  # (B, U+1, V)
        nll = F.cross_entropy(logits.float().transpose(1, 2), ys_out, ignore_index=IGNORE, reduction="sum")
        return nll, (ys_out != IGNORE).sum()

    @torch.no_grad()
    def sequence_log_prob(self, seqs: list[list[int]]) -> Tensor:
        """log P(units, <eos>) of each sequence (given without <sos>/<eos>) -> (B,), in one batched pass."""
        tokens, lens = pad_targets(seqs, self.out.weight.device)  # (B, U), (B,)
        ys_in, ys_out = decoder_io(tokens, lens)
        logp = torch.log_softmax(self(ys_in, lens + 1).float(), dim=-1)  # (B, U+1, V)
        picked = logp.gather(-1, ys_out.clamp(min=0)[..., None])[..., 0]
        return picked.masked_fill(ys_out == IGNORE, 0.0).sum(dim=1)


def _empty(block: LMBlock, x: Tensor) -> KVCache:
    empty = x.new_zeros(x.shape[0], block.attn.heads, 0, block.attn.d_k)  # (N, H, 0, d_k)
    return empty, empty
