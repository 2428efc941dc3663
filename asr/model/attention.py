"""One multi-head attention for encoder self-attention, decoder self-attention and cross-attention.

softmax(Q K^T / sqrt(d_k)) V per head, on `scaled_dot_product_attention` for speed; `need_weights=True` takes
the explicit path and also returns the weights (B, H, U, T) for pictures and timestamps. In bf16 on the CPU
(autocast) the explicit path is used too: there PyTorch's fused CPU kernel is 2.5-4x slower than two bf16
matmuls around an fp32 softmax (B 16 x H 4 x 75 x 75, forward + backward: 7.6-9.3 ms against 2.4-4.5 ms on 2
threads, `tools/microbench.py attention`), while in fp32 the two are even and the fused one saves memory.
Masks are boolean and broadcastable to (B, H, U, T): True means "may attend".

With `rel_pos=True` (the conformer's self-attention; Transformer-XL, ESPnet's "latest" rel_pos_type) the scores
get a second term from relative positions instead of positions added to the input:

    score(i, j) = [(q_i + u) . k_j + (q_i + v) . W_pos p(i - j)] / sqrt(d_k)

u, v (H, d_k) learned, p(r) the sinusoid of relative position r. The second term is computed against all 2T' - 1
positions at once and `rel_shift`ed into place; it enters the fused kernel as an additive float mask (as WeNet
does). On the CPU in fp32 that costs the same as the explicit path, both 2.5x absolute positions' fused attention
(B 8 x H 4 x 125 x 125, d_k 36, forward + backward on 1 thread: 31, 30 and 12 ms CPU time).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KVCache = tuple[Tensor, Tensor]  # keys, values: each (B, H, T, d_k)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, rel_pos: bool = False) -> None:
        super().__init__()
        assert d_model % heads == 0, "d_model must be divisible by heads"
        self.heads, self.d_k = heads, d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout
        if rel_pos:  # made only when used: older model files keep their parameters and their random init
            self.pos = nn.Linear(d_model, d_model, bias=False)
            self.pos_bias_u = nn.Parameter(nn.init.xavier_uniform_(torch.empty(heads, self.d_k)))
            self.pos_bias_v = nn.Parameter(nn.init.xavier_uniform_(torch.empty(heads, self.d_k)))

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
        pos: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None, KVCache]:
        """Attend from queries x (B, U, D) to `source` (B, T, D) (x itself when None).

        kv: precomputed keys/values. With append_kv=False they replace source's (cross-attention cache); with
        append_kv=True x's own keys/values are appended to them (incremental decoder self-attention).
        pos: relative position embeddings (2T - 1, D) for positions T-1 ... -(T-1) (`relative_positions`), for
        self-attention built with rel_pos=True.
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
        bias = None
        if pos is not None:
            q, bias = self._relative(q, pos)  # (B, H, T, d_k), (B, H, T, T)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights or (q.device.type == "cpu" and q.dtype != torch.float32):
            y, probs = explicit_attention(q, k, v, mask, p, bias)  # (B, H, U, d_k), (B, H, U, T)
            weights = probs if need_weights else None
        else:
            if bias is not None:  # the fused kernel adds a float mask to its scaled scores
                mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, U, d_k)
        B, H, U, dk = y.shape
        y = y.transpose(1, 2).reshape(B, U, H * dk)  # (B, U, D)
        return self.out(y), weights, (k, v)

    def _relative(self, q: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
        """Self-attention queries q (B, H, T, d_k), pos (2T - 1, D) -> q + u, and the relative-position scores
        (q + v) . W_pos p(i - j) / sqrt(d_k) (B, H, T, T) to add to the content scores."""
        T = q.shape[2]
        assert pos.shape[0] == 2 * T - 1, "relative positions need the whole sequence (no key/value cache)"
        p = self._split(self.pos(pos.to(q.dtype))[None])  # (1, H, 2T - 1, d_k)
        bd = (q + self.pos_bias_v[:, None]) @ p.transpose(-2, -1)  # (B, H, T, 2T - 1)
        return q + self.pos_bias_u[:, None], rel_shift(bd) * (1.0 / math.sqrt(self.d_k))


def rel_shift(x: Tensor) -> Tensor:
    """Scores against relative positions T-1 ... -(T-1) (B, H, T, 2T - 1) -> scores per key (B, H, T, T):
    out[..., i, j] = x[..., i, T - 1 - i + j], the score of relative position i - j.

    Transformer-XL's trick, no gather: a zero column on the left makes each row one element longer, so read as
    rows of the original length every row starts one element further left than the one above.
    """
    B, H, T, P = x.shape
    x = F.pad(x, (1, 0))  # (B, H, T, 2T)
    x = x.view(B, H, P + 1, T)[:, :, 1:].reshape(B, H, T, P)  # row i now starts at x[i, T - 1 - i]
    return x[..., :T]


def explicit_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float = 0.0, bias: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(Q K^T / sqrt(d_k) + bias) V as two matmuls around an fp32 softmax: q (B, H, U, d_k), k and v
    (B, H, T, d_k), bias (B, H, U, T) or None -> output (B, H, U, d_k) in v's dtype and the weights (B, H, U, T)
    in fp32; fully masked rows weigh 0."""
    scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.shape[-1]))  # (B, H, U, T)
    if bias is not None:
        scores = scores + bias
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
