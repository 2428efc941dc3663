"""Search: small pure functions over the model and tensors, returning token ids.

audio (B, S) -> `recognise` (what every consumer calls: encoder once, then the policy, tokens, text, spans) ->
encoder states (B, T', D) -> `policy.decode_encoded`, which picks one of
  greedy_search   attention decoder, most probable token per step                      (greedy.py)
  ctc_greedy      CTC best path                                                         (ctc_path.py)
  beam_search     batched beam search over named, weighted scorers: decoder, ctc, ...   (beam.py, scorers/)
  attention_rescoring  CTC prefix beam search, rescored by the joint objective          (rescore.py)
then guards it against search errors and decoder loops; configured by one frozen `DecodeOptions` (options.py,
torch-free: the command line reads its defaults from there).

Names are imported on first use, so `from asr.decoding.options import DecodeOptions` does not import torch.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "DecodeOptions": "options", "Hypothesis": "options", "SEARCHES": "options",
    "beam_search": "beam", "ctc_greedy": "ctc_path", "greedy_search": "greedy", "CTCPrefixScorer": "ctc_prefix",
    "decode": "recognition", "recognise": "recognition", "recognise_encoded": "recognition",
    "Recognition": "recognition", "decode_encoded": "policy", "attention_rescoring": "rescore",
    "CTCScorer": "scorers", "DecoderScorer": "scorers", "joint_scorers": "scorers",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"asr.decoding.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'asr.decoding' has no attribute {name!r}")
