"""CTC prefix scores for joint CTC/attention search (Watanabe et al. 2017, "Hybrid CTC/Attention Architecture
for End-to-End Speech Recognition", Algorithm 2; ESPnet's CTCPrefixScoreTH), vectorised over hypotheses N
(batch x beam) and candidate tokens C.

For a prefix g the state keeps, for every frame t, the log-probability that the first t + 1 frames read exactly
g, ending in a label (r^n) or in a blank (r^b). The prefix score of h = g + c is the log-probability of every
label sequence that starts with h (h itself included):

    psi(h) = log sum_t phi(t - 1) p_t(c),   phi(t) = r^n_t(g) + r^b_t(g)  (only r^b_t(g) when c repeats g's
                                                                            last label: a blank must split them)

and the score of <eos> after g is log p(g | x) = r^n + r^b at the last frame.

Padding: frames past an utterance's end get log-prob 0 for blank and -inf for every other token, so paths carry
their probability unchanged to the last padded frame (ESPnet's trick) and one tensor serves utterances of
different lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asr.tokenizer import BLANK, SOS_EOS

NEG_INF = float("-inf")


@dataclass(frozen=True)
class CTCState:
    """The CTC side of N prefixes that all have `length` tokens (search moves in lock-step)."""

    r: Tensor  # (T', 2, N) log forward probabilities of each prefix, ending in a label (0) / a blank (1)
    psi: Tensor  # (N,) prefix scores
    last: Tensor  # (N,) last token of each prefix; -1 for the empty prefix
    utt: Tensor  # (N,) utterance (row of the log-probs) of each prefix
    length: int


@dataclass(frozen=True)
class CTCExtensions:
    """Every prefix of a CTCState extended by each of its candidate tokens."""

    tokens: Tensor  # (N, C) candidate tokens
    psi: Tensor  # (N, C) prefix scores of g + c; log p(g | x) where c is <eos>
    r: Tensor  # (T', 2, N, C) forward probabilities of g + c


class CTCPrefixScorer:
    """Holds one batch's CTC log-probabilities; states and extensions are small immutable tensors."""

    def __init__(self, log_probs: Tensor, lens: Tensor) -> None:
        """log_probs (B, T', V) from the CTC head, lens (B,)."""
        x = log_probs.float().transpose(0, 1).clone()  # (T', B, V)
        pad = torch.arange(x.shape[0], device=x.device)[:, None] >= lens[None, :]  # (T', B)
        x.masked_fill_(pad[:, :, None], NEG_INF)
        x[:, :, BLANK].masked_fill_(pad, 0.0)
        self.x = x

    def initial_state(self, utt: Tensor) -> CTCState:
        """Empty prefixes (<sos> only) for the utterances `utt` (N,)."""
        blank = self.x[:, utt, BLANK]  # (T', N)
        r = torch.stack([torch.full_like(blank, NEG_INF), blank.cumsum(dim=0)], dim=1)  # (T', 2, N)
        return CTCState(r, blank.new_zeros(utt.shape[0]), torch.full_like(utt, -1), utt, 0)

    def final(self, state: CTCState) -> Tensor:
        """(N,) log p(g | x) of each whole prefix: the CTC score of <eos>."""
        return torch.logaddexp(state.r[-1, 0], state.r[-1, 1])

    def extend(self, state: CTCState, tokens: Tensor) -> CTCExtensions:
        """Prefix scores of every prefix extended by each of its candidates `tokens` (N, C) (never blank)."""
        T, N, C = self.x.shape[0], *tokens.shape
        l = state.length
        xc = self.x[:, state.utt[:, None], tokens]  # (T', N, C)
        xb = self.x[:, state.utt, BLANK][:, :, None]  # (T', N, 1)
        rn, rb = state.r[:, 0], state.r[:, 1]  # (T', N) each
        repeat = (tokens == state.last[:, None])[None]  # (1, N, C)
        phi = torch.where(repeat, rb[:, :, None], torch.logaddexp(rn, rb)[:, :, None])  # (T', N, C)

        # h = g + c has l + 1 labels, so it can't be complete before frame l: start there.
        start = max(l, 1)
        r = xc.new_full((T, 2, N, C), NEG_INF)
        if l == 0:
            r[0, 0] = xc[0]
        for t in range(start, T):
            r[t, 0] = torch.logaddexp(r[t - 1, 0], phi[t - 1]) + xc[t]
            r[t, 1] = torch.logaddexp(r[t - 1, 0], r[t - 1, 1]) + xb[t]
        psi = torch.logsumexp(phi[start - 1 : T - 1] + xc[start:], dim=0) if start < T else xc.new_full((N, C), NEG_INF)
        if l == 0:
            psi = torch.logaddexp(psi, xc[0])
        psi = torch.where(tokens == SOS_EOS, self.final(state)[:, None], psi)
        return CTCExtensions(tokens, psi, r)

    def select(self, state: CTCState, ext: CTCExtensions, row: Tensor, col: Tensor) -> CTCState:
        """The new prefixes g_row + tokens[row, col], for the kept (row, col) pairs (N',) each."""
        T, _, N, C = ext.r.shape
        flat = row * C + col  # (N',)
        r = ext.r.reshape(T, 2, N * C).index_select(2, flat)  # (T', 2, N')
        return CTCState(r, ext.psi.reshape(-1)[flat], ext.tokens.reshape(-1)[flat], state.utt[row], state.length + 1)
