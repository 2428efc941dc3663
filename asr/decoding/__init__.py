"""Search: small pure functions over the model and tensors, returning token ids.

waveform (B, S) -> encoder states (B, T', D) -> one of
  greedy_search   attention decoder, most probable token per step (beam 1, ctc_weight 0)
  ctc_greedy      CTC best path (beam 1, ctc_weight 1)
  beam_search     joint CTC/attention beam search over batch x beam rows, n-best `Hypothesis` lists
each configured by one frozen `DecodeOptions`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asr.decoding.beam import beam_search
from asr.decoding.ctc_greedy import ctc_greedy
from asr.decoding.ctc_prefix import CTCPrefixScorer
from asr.decoding.greedy import greedy_search
from asr.decoding.options import DecodeOptions, Hypothesis
from asr.model.asr_model import ASRModel

__all__ = ["CTCPrefixScorer", "DecodeOptions", "Hypothesis", "beam_search", "ctc_greedy", "decode", "greedy_search"]


def decode(model: ASRModel, wave: Tensor, wave_lens: Tensor, opts: DecodeOptions) -> list[list[int]]:
    """wave (B, S), wave_lens (B,) -> the best token ids per utterance. The model is put in eval mode for the
    call (no dropout, no SpecAugment) and left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            enc, enc_lens, _ = model.encode(wave, wave_lens)
            if opts.beam == 1 and opts.ctc_weight == 0:
                return greedy_search(model, enc, enc_lens, opts)
            if opts.beam == 1 and opts.ctc_weight == 1:
                return ctc_greedy(model.ctc_log_probs(enc), enc_lens)
            return [hyps[0].tokens for hyps in beam_search(model, enc, enc_lens, opts)]
    finally:
        model.train(was_training)
