"""One recognition path: a batch of audio -> the encoder once -> the decoding policy -> token ids -> text, with the
CTC posteriors and per-token spans that timestamps, confidence and the vocabulary check read.

    rec = recognise(net, wave, wave_lens, opts, tokenizer=tok)        # wave (B, S), wave_lens (B,)
    rec.texts[b], rec.tokens[b], rec.spans(b)                         # text, ids, (first, end, posterior) a token

Every consumer goes through here: the transcriber (`asr transcribe`, `asr evaluate`, the server), validation and
test during training (`recognise_encoded` on the encoder output its loss already computed), confidence
calibration and the attention pictures (which draw the tokens the transcriber chose). So for the same audio and
settings they give the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.ctc_path import token_spans
from asr.decoding.fusion import Fusion
from asr.decoding.options import DecodeOptions
from asr.decoding.policy import decode_encoded
from asr.model.network import Network
from asr.tokenizer import Tokenizer


@dataclass
class Recognition:
    """What a batch of B utterances was recognised as, and the evidence for it."""

    enc: Tensor  # (B, T', D) encoder states
    enc_lens: Tensor  # (B,) valid encoder frames
    log_probs: Tensor  # (B, T', V) CTC log-probabilities, fp32
    tokens: list[list[int]]  # the policy's best token ids per utterance
    texts: list[str]  # the tokens as text (empty strings without a tokenizer)

    def posteriors(self, b: int) -> Tensor:
        """Utterance b's CTC log-probabilities over its valid frames (T'_b, V)."""
        return self.log_probs[b, : int(self.enc_lens[b])]

    def spans(self, b: int) -> list[tuple[int, int, float | None]]:
        """Utterance b's tokens as (first frame, end frame, mean posterior) by CTC forced alignment."""
        return token_spans(self.posteriors(b), self.tokens[b])


def recognise_encoded(net: Network, enc: Tensor, enc_lens: Tensor, opts: DecodeOptions,
                      tokenizer: Tokenizer | None = None, fusion: Fusion | None = None,
                      log_probs: Tensor | None = None) -> Recognition:
    """Encoder states (B, T', D) and lengths (B,) -> Recognition. `log_probs` (B, T', V): CTC's, when the caller
    has them already (a training step's loss). A translation model decodes with `opts.for_task("translate")`."""
    opts = opts.for_task(net.cfg.task)
    with torch.no_grad():
        if log_probs is None:
            log_probs = net.ctc_log_probs(enc)  # (B, T', V) fp32
        tokens = decode_encoded(net, enc, enc_lens, opts, log_probs, fusion)
    texts = [tokenizer.decode(t).strip() for t in tokens] if tokenizer is not None else [""] * len(tokens)
    return Recognition(enc, enc_lens, log_probs, tokens, texts)


def recognise(net: Network, wave: Tensor, wave_lens: Tensor, opts: DecodeOptions,
              tokenizer: Tokenizer | None = None, fusion: Fusion | None = None, bf16: bool = False) -> Recognition:
    """Audio (B, S) at the model's rate, lengths (B,) -> Recognition. The model runs in eval mode for the call (no
    dropout, no SpecAugment) and is left in the mode it was in; `bf16` runs the network under bf16 autocast."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), torch.autocast(wave.device.type, dtype=torch.bfloat16, enabled=bf16):
            enc, enc_lens, _ = net.encode(wave, wave_lens)  # (B, T', D), (B,)
            return recognise_encoded(net, enc, enc_lens, opts, tokenizer, fusion)
    finally:
        net.train(was_training)


def decode(model: Network, wave: Tensor, wave_lens: Tensor, opts: DecodeOptions) -> list[list[int]]:
    """wave (B, S), wave_lens (B,) -> the best token ids per utterance (`recognise` without the rest)."""
    return recognise(model, wave, wave_lens, opts).tokens
