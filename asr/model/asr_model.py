"""The whole recogniser as a plain nn.Module (no Lightning):

waveform (B, S) -> log-mel (B, T, F) (VTLP-warped in training) -> CMVN -> SpecAugment (training only)
  -> encoder (B, T', D)
  -> CTC head (B, T', V)
  -> decoder with cross-attention -> logits (B, U, V)
loss = ctc_weight * CTC + (1 - ctc_weight) * label-smoothed cross-entropy, each summed per utterance and
averaged over the batch (as ESPnet does). A translation model (`cfg.task == "translate"`) gets the source
transcript as CTC's targets and the translation as the decoder's (ESPnet's st1 with an ASR CTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.features import GlobalCMVN, LogMel, SpecAugment
from asr.model.config import ModelConfig
from asr.model.decoder import Decoder
from asr.model.encoder import Encoder
from asr.tokenizer import BLANK, SOS_EOS

IGNORE = -1  # padding in target tensors


@dataclass
class Losses:
    loss: Tensor
    ctc: Tensor
    att: Tensor
    att_acc: Tensor  # token accuracy of the attention decoder under teacher forcing
    # What the losses were computed from, for validation to decode without running the encoder again:
    enc: Tensor | None = None  # (B, T', D) encoder states
    enc_lens: Tensor | None = None  # (B,)
    log_probs: Tensor | None = None  # (B, T', V) CTC log-probabilities (None with ctc_weight 0)


class ASRModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= SOS_EOS:
            raise ValueError("ModelConfig.vocab_size is unset: build the model with the tokenizer's vocab_size")
        self.cfg = cfg
        self.features = LogMel(cfg.frontend)
        self.cmvn = GlobalCMVN(cfg.frontend.n_mels)
        self.specaug = SpecAugment(cfg.frontend)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.ctc = nn.Linear(cfg.d_model, cfg.vocab_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def frontend(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> normalised (and, in training, augmented) log-mel (B, T, F), (B,)."""
        spread = self.cfg.frontend.vtlp
        warp = None
        if self.training and spread > 0:  # one VTLP factor per utterance, U[1 - spread, 1 + spread]
            warp = 1 + spread * (2 * torch.rand(wave.shape[0], device=wave.device) - 1)  # (B,)
        feats, lens = self.features(wave, wave_lens, warp)
        feats = self.cmvn(feats)
        return self.specaug(feats, lens), lens

    def encode(
        self, wave: Tensor, wave_lens: Tensor, need_weights: bool = False, chunk: int = 0, left_chunks: int = -1
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """(B, S), (B,) -> encoder states (B, T', D), lengths (B,), self-attention weights (see Encoder); chunk > 0:
        under a chunk mask, as a stream of that chunk size would see it (`Encoder.forward_chunk`)."""
        feats, lens = self.frontend(wave, wave_lens)
        return self.encoder(feats, lens, need_weights, chunk, left_chunks)

    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """(B, T', D) -> (B, T', V) log-probabilities in fp32."""
        return torch.log_softmax(self.ctc(enc).float(), dim=-1)

    def forward(self, wave: Tensor, wave_lens: Tensor, targets: Tensor, target_lens: Tensor,
                ctc_targets: Tensor | None = None, ctc_target_lens: Tensor | None = None) -> Losses:
        """wave (B, S), targets (B, U) token ids padded with IGNORE -> losses. `ctc_targets` (B, U_src): the CTC
        head's own targets (speech translation: the source transcript); None: `targets`."""
        feats, feat_lens = self.frontend(wave, wave_lens)
        return self.forward_features(feats, feat_lens, targets, target_lens, ctc_targets, ctc_target_lens)

    def forward_features(self, feats: Tensor, feat_lens: Tensor, targets: Tensor, target_lens: Tensor,
                         ctc_targets: Tensor | None = None, ctc_target_lens: Tensor | None = None) -> Losses:
        """Normalised log-mel (B, T, F), lengths (B,), targets (B, U) padded with IGNORE -> losses.

        `forward` after the frontend; `asr bench train-step` times it on random features."""
        enc, enc_lens, _ = self.encoder(feats, feat_lens)
        w = self.cfg.ctc_weight
        log_probs = self.ctc_log_probs(enc) if w > 0 else None  # (B, T', V)
        if ctc_targets is None:
            ctc_targets, ctc_target_lens = targets, target_lens
        ctc = self._ctc_loss(log_probs, enc_lens, ctc_targets, ctc_target_lens) if w > 0 else enc.new_zeros(())
        if w < 1:
            att, acc = self._att_loss(enc, enc_lens, targets, target_lens)
        else:
            att, acc = enc.new_zeros(()), enc.new_zeros(())
        return Losses(w * ctc + (1 - w) * att, ctc, att, acc, enc, enc_lens, log_probs)

    def _ctc_loss(self, log_probs: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        loss = F.ctc_loss(
            log_probs.transpose(0, 1), targets.clamp(min=0), enc_lens, target_lens, blank=BLANK, reduction="sum",
            zero_infinity=True,
        )  # over (T', B, V)
        return loss / log_probs.shape[0]

    def _att_loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor, target_lens: Tensor) -> tuple[Tensor, Tensor]:
        ys_in, ys_out = decoder_io(targets, target_lens)  # (B, U+1) each
        logits, _ = self.decoder(ys_in, enc, enc_lens)  # (B, U+1, V)
        logits = logits.float()
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ys_out.reshape(-1), ignore_index=IGNORE,
            label_smoothing=self.cfg.label_smoothing, reduction="sum",
        )
        valid = ys_out != IGNORE
        acc = (logits.argmax(-1)[valid] == ys_out[valid]).float().mean()
        return loss / enc.shape[0], acc


def decoder_io(targets: Tensor, target_lens: Tensor) -> tuple[Tensor, Tensor]:
    """targets (B, U) padded with IGNORE -> decoder input [<sos>, y...] padded with <eos> and
    output [y..., <eos>] padded with IGNORE, each (B, U+1)."""
    B, U = targets.shape
    sos = targets.new_full((B, 1), SOS_EOS)
    ys_in = torch.cat([sos, targets.masked_fill(targets == IGNORE, SOS_EOS)], dim=1)
    ys_out = torch.cat([targets, targets.new_full((B, 1), IGNORE)], dim=1)
    ys_out[torch.arange(B), target_lens] = SOS_EOS
    return ys_in, ys_out


def pad_targets(seqs: list[list[int]], device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Token id lists -> (B, U) padded with IGNORE, lengths (B,)."""
    lens = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), max(1, int(lens.max()) if len(seqs) else 1)), IGNORE, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device), lens.to(device)
