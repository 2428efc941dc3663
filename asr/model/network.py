"""What the searches and the pipeline call on a network: one interface, two implementations. `ASRModel` (PyTorch,
asr.model.asr_model) and `OnnxNetwork` (an exported folder on onnxruntime, asr.runtime.onnx_net) both provide it,
so greedy, joint beam, rescoring, fusion, streaming, timestamps and the server do not fork by backend.

    encode(wave (B, S), wave_lens (B,)) -> enc (B, T', D), enc_lens (B,), weights
    ctc_log_probs(enc) -> (B, T', V)
    decoder.init_cache(enc, enc_lens) -> DecoderCache; decoder.step(tokens (N, k), cache) -> (N, V), cache;
    decoder(tokens (B, U), enc, enc_lens) -> logits (B, U, V), weights          (teacher forcing: rescoring)
    features(wave, lens) -> log-mel (B, T, F), frames; cmvn(feats); encoder.stride(); encoder.forward_chunk(...)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch
from torch import Tensor

from asr.model.config import ModelConfig
from asr.model.decoder import DecoderCache
from asr.model.encoder import EncoderCache


class DecoderLike(Protocol):
    def init_cache(self, memory: Tensor, memory_lens: Tensor) -> DecoderCache: ...

    def step(self, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]: ...

    def __call__(self, tokens: Tensor, memory: Tensor, memory_lens: Tensor, need_weights: bool = False
                 ) -> tuple[Tensor, list[Tensor]]: ...


class EncoderLike(Protocol):
    def stride(self) -> tuple[int, int]: ...

    def forward_chunk(self, feats: Tensor, cache: EncoderCache | None, left_frames: int = -1
                      ) -> tuple[Tensor, EncoderCache]: ...


class Network(Protocol):
    cfg: ModelConfig
    decoder: DecoderLike
    encoder: EncoderLike
    training: bool

    @property
    def device(self) -> torch.device: ...

    def encode(self, wave: Tensor, wave_lens: Tensor, need_weights: bool = False, chunk: int = 0,
               left_chunks: int = -1) -> tuple[Tensor, Tensor, list[Tensor]]: ...

    def ctc_log_probs(self, enc: Tensor) -> Tensor: ...

    def features(self, wave: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]: ...

    def cmvn(self, feats: Tensor) -> Tensor: ...

    def eval(self) -> Network: ...

    def train(self, mode: bool = True) -> Network: ...

    def parameters(self) -> Iterator[Tensor]: ...
