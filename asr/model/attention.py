"""One multi-head attention for encoder self-attention, decoder self-attention and cross-attention.

softmax(Q K^T / sqrt(d_k)) V per head, on `scaled_dot_product_attention` for speed; `need_weights=True` takes
the explicit path and also returns the weights (B, H, U, T) for pictures and timestamps. In bf16 on the CPU
(autocast) the explicit path is used too: there PyTorch's fused CPU kernel is 2.5-4x slower than two bf16
matmuls around an fp32 softmax (B 16 x H 4 x 75 x 75, forward + backward: 7.6-9.3 ms against 2.4-4.5 ms on 2
threads, `tools/microbench.py attention`), while in fp32 the two are even and the fused one saves memory.
Masks are boolean and broadcastable to (B, H, U, T): True means "may attend".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KVCache = tuple[Tensor, Tensor]  # keys, values: each (B, H, T, d_k)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert d_model % heads == 0, "d_model must be divisible by heads"
        self.heads, self.d_k = heads, d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def _split(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.d_k).transpose(1, 2)  # (B, H, T, d_k)

    def project_kv(self, source: Tensor) -> KVCache:
        """Keys and values of `source` (B, T, D): computed once per utterance for cross-attention."""
        return self._split(self.k(source)), self._split(self.v(source))

    def forward(
        self,
        x: Tensor,
        source: Tensor | None = None,
        mask: Tensor | None = None,
        kv: KVCache | None = None,
        append_kv: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, KVCache]:
        """Attend from queries x (B, U, D) to `source` (B, T, D) (x itself when None).

        kv: precomputed keys/values. With append_kv=False they replace source's (cross-attention cache); with
        append_kv=True x's own keys/values are appended to them (incremental decoder self-attention).
        Returns the output (B, U, D), the weights (B, H, U, T) or None, and the keys/values used.
        """
        q = self._split(self.q(x))  # (B, H, U, d_k)
        if kv is None:
            k, v = self.project_kv(x if source is None else source)
        elif append_kv:
            k_new, v_new = self.project_kv(x)
            k, v = torch.cat([kv[0], k_new], dim=2), torch.cat([kv[1], v_new], dim=2)  # (B, H, T+U, d_k)
        else:
            k, v = kv
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights or (q.device.type == "cpu" and q.dtype != torch.float32):
            y, probs = explicit_attention(q, k, v, mask, p)  # (B, H, U, d_k), (B, H, U, T)
            weights = probs if need_weights else None
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, U, d_k)
        B, H, U, dk = y.shape
        y = y.transpose(1, 2).reshape(B, U, H * dk)  # (B, U, D)
        return self.out(y), weights, (k, v)


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float = 0.0) -> tuple[Tensor, Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V as two matmuls around an fp32 softmax: q (B, H, U, d_k), k and v (B, H, T, d_k)
    -> output (B, H, U, d_k) in v's dtype and the weights (B, H, U, T) in fp32; fully masked rows weigh 0."""
    scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.shape[-1]))  # (B, H, U, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).nan_to_num(0.0)
    return F.dropout(probs.to(v.dtype), p, p > 0) @ v, probs


def key_padding_mask(lens: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, 1, 1, T) boolean, True on real frames."""
    return (torch.arange(max_len, device=lens.device)[None, :] < lens[:, None])[:, None, None, :]


def causal_mask(U: int, device: torch.device, offset: int = 0) -> Tensor:
    """(U, offset + U) boolean, True where query u may see key j (j <= offset + u)."""
    q = torch.arange(U, device=device)[:, None] + offset
    return torch.arange(offset + U, device=device)[None, :] <= q
