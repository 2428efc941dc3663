"""CTC greedy (best path) decoding: the most probable label per frame, repeats collapsed, blanks dropped."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from asr.tokenizer import BLANK


def ctc_greedy(log_probs: Tensor, lens: Tensor) -> list[list[int]]:
    """log_probs (B, T', V), lens (B,) -> token ids per utterance."""
    best = log_probs.argmax(dim=-1)  # (B, T')
    prev = F.pad(best, (1, 0), value=BLANK)[:, :-1]  # (B, T'): the label of the frame before
    frames = torch.arange(best.shape[1], device=best.device)[None, :]
    keep = (best != BLANK) & (best != prev) & (frames < lens[:, None])  # (B, T')
    return [row[k].tolist() for row, k in zip(best.cpu(), keep.cpu())]
