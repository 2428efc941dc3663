"""CTC paths: the best path (greedy decoding: the most probable label per frame, repeats collapsed, blanks
dropped), and the forced alignment of given tokens (their frame spans, for timestamps and confidence)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor

from asr.tokenizer import BLANK


def ctc_greedy(log_probs: Tensor, lens: Tensor) -> list[list[int]]:
    """log_probs (B, T', V), lens (B,) -> token ids per utterance."""
    best = log_probs.argmax(dim=-1)  # (B, T')
    prev = F.pad(best, (1, 0), value=BLANK)[:, :-1]  # (B, T'): the label of the frame before
    frames = torch.arange(best.shape[1], device=best.device)[None, :]
    keep = (best != BLANK) & (best != prev) & (frames < lens[:, None])  # (B, T')
    return [row[k].tolist() for row, k in zip(best.cpu(), keep.cpu())]


def token_spans(log_probs: Tensor, tokens: list[int]) -> list[tuple[int, int, float | None]]:
    """(T', V), L tokens -> L (start, end, mean posterior) frame spans. When CTC can't fit the tokens into T'
    frames (the attention decoder said more than CTC allows), tokens share the frames evenly, posterior None."""
    T = log_probs.shape[0]
    repeats = sum(a == b for a, b in zip(tokens, tokens[1:]))
    if T < len(tokens) + repeats:
        edges = np.linspace(0, T, len(tokens) + 1)
        return [(int(edges[i]), max(int(edges[i]) + 1, int(edges[i + 1])), None) for i in range(len(tokens))]
    path, scores = AF.forced_align(
        log_probs[None].float().cpu(), torch.tensor([tokens], dtype=torch.int32), blank=BLANK
    )  # (1, T'), (1, T')
    merged = AF.merge_tokens(path[0], scores[0].exp(), blank=BLANK)
    return [(s.start, s.end, float(s.score)) for s in merged]
