"""Batched greedy decoding with the attention decoder and its key/value cache.

enc (B, T', D) -> at each step the most probable next token of every utterance; an utterance stops at its own
<eos> or at its maximum length (see `DecodeOptions`), the others carry on.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asr.decoding.options import DecodeOptions
from asr.decoding.rules import eos_rules, length_limits
from asr.model.network import Network
from asr.tokenizer import BLANK, SOS_EOS


@torch.no_grad()
def greedy_search(model: Network, enc: Tensor, enc_lens: Tensor, opts: DecodeOptions) -> list[list[int]]:
    """enc (B, T', D), enc_lens (B,) -> token ids per utterance, without <sos>/<eos>. `opts.beam` is ignored."""
    B = enc.shape[0]
    limits = length_limits(enc_lens, opts)
    cache = model.decoder.init_cache(enc, enc_lens)
    tokens = enc_lens.new_zeros((B, 0))  # (B, U)
    last = enc_lens.new_full((B,), SOS_EOS)  # (B,)
    running = torch.ones(B, dtype=torch.bool, device=enc.device)
    while bool(running.any()):
        logp, cache = model.decoder.step(last[:, None], cache)  # (B, V)
        allowed, forced = eos_rules(tokens, limits.max_len, limits.min_eos, opts)
        logp[:, BLANK] = float("-inf")  # blank belongs to CTC; the decoder never learnt to emit it
        logp[:, SOS_EOS] = logp[:, SOS_EOS].masked_fill(~allowed, float("-inf"))
        last = torch.where(forced | ~running, SOS_EOS, logp.argmax(dim=-1))  # (B,)
        tokens = torch.cat([tokens, last[:, None]], dim=1)
        running &= last != SOS_EOS
    return [row[: row.index(SOS_EOS)] for row in tokens.tolist()]  # every row ends with <eos>
