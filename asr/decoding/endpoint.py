"""The end of a streamed utterance: WeNet's endpoint rules (runtime/core/decoder/ctc_endpoint.cc) on the streaming
CTC search's state, and the attention rescoring of its n-best once an endpoint (or the end of the audio) comes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.fusion import Fusion
from asr.decoding.options import DecodeOptions
from asr.decoding.rescore import joint_log_prob
from asr.decoding.stream_search import StreamSearchState, best_tokens, nbest
from asr.model.network import Network


@dataclass(frozen=True)
class EndpointRule:
    """WeNet's three rules, in milliseconds. Silence is the trailing frames where blank was CTC's most probable
    symbol (WeNet counts blank posteriors > 0.8 instead)."""

    # Rule 1: this much silence ends an utterance, whether or not anything was decoded.
    silence_ms: float = 5000.0
    # Rule 2: once something was decoded, this much silence ends it.
    silence_after_speech_ms: float = 1000.0
    # Rule 3: an utterance this long ends, silence or not.
    max_utterance_ms: float = 20000.0


def endpoint(state: StreamSearchState, rule: EndpointRule, frame_ms: float) -> bool:
    """Whether the utterance has ended after the frames `state` has read; frame_ms: the time between two
    encoder frames (the subsampling times the feature shift, e.g. 8 x 10 ms)."""
    silence = state.trailing_blank * frame_ms
    return (silence >= rule.silence_ms
            or (silence >= rule.silence_after_speech_ms and bool(best_tokens(state)))
            or state.frames * frame_ms >= rule.max_utterance_ms)


@torch.no_grad()
def rescore_final(model: Network, enc: Tensor, enc_lens: Tensor, log_probs: Tensor, state: StreamSearchState,
                  opts: DecodeOptions, fusion: Fusion | None = None) -> list[int]:
    """WeNet's attention rescoring of the streaming search's `opts.beam` best: enc (1, T', D), enc_lens (1,),
    log_probs (1, T', V) of the whole utterance -> the token ids of the hypothesis with the highest joint score
    (`joint_log_prob`: decoder and CTC weighted by `opts.ctc_weight`, plus the fused LMs, hotwords and length
    bonus)."""
    cands = [tokens for tokens, _ in nbest(state, opts.beam)]
    if len(cands) <= 1:
        return cands[0] if cands else []
    n = len(cands)
    scores = joint_log_prob(model, enc.expand(n, -1, -1), enc_lens.expand(n), log_probs.expand(n, -1, -1), cands,
                            opts, fusion)  # (n,)
    return cands[int(scores.argmax())]
