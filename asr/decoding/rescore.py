"""Score given token sequences with the joint CTC/attention objective the beam search maximises.

log P(y) = (1 - w) * log P_att(y, <eos> | x) + w * log P_ctc(y | x) [+ the fused terms]: the attention term by
one teacher-forced decoder pass, the CTC term summed over all alignments (`F.ctc_loss`), the same numbers the
beam search accumulates step by step (`Hypothesis.log_prob`); a `Fusion` adds its LM, n-gram, hotword and length
terms (`Fusion.sequence_scores`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from asr.decoding.beam import beam_search
from asr.decoding.fusion import Fusion
from asr.decoding.options import DecodeOptions
from asr.decoding.scorers import CTCScorer
from asr.model.asr_model import IGNORE, decoder_io, pad_targets
from asr.model.network import Network
from asr.tokenizer import BLANK


@torch.no_grad()
def joint_log_prob(
    model: Network, enc: Tensor, enc_lens: Tensor, ctc_log_probs: Tensor, seqs: list[list[int]],
    opts: DecodeOptions, fusion: Fusion | None = None
) -> Tensor:
    """enc (B, T', D), enc_lens (B,), ctc_log_probs (B, T', V), one token sequence per utterance -> (B,)."""
    ctc_weight = opts.ctc_weight
    y, y_lens = pad_targets(seqs, enc.device)  # (B, U) padded with IGNORE
    total = enc.new_zeros(len(seqs), dtype=torch.float32)
    if ctc_weight < 1:
        ys_in, ys_out = decoder_io(y, y_lens)  # (B, U+1) each
        logits, _ = model.decoder(ys_in, enc, enc_lens)  # (B, U+1, V)
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ys_out.clamp(min=0)[..., None])[..., 0]
        total += (1 - ctc_weight) * logp.masked_fill(ys_out == IGNORE, 0.0).sum(dim=1)
    if ctc_weight > 0:
        total -= ctc_weight * ctc_nll(ctc_log_probs, enc_lens, y, y_lens)
    if fusion is not None:
        total += torch.tensor(fusion.sequence_scores(seqs, opts), device=enc.device)
    return total


def ctc_nll(log_probs: Tensor, enc_lens: Tensor, y: Tensor, y_lens: Tensor) -> Tensor:
    """-log P_ctc(y | x) summed over all alignments: log_probs (B, T', V), y (B, U) padded with IGNORE -> (B,);
    inf where CTC can't place y at all."""
    return F.ctc_loss(log_probs.transpose(0, 1).float(), y.clamp(min=0), enc_lens, y_lens, blank=BLANK,
                      reduction="none", zero_infinity=False)


@torch.no_grad()
def attention_rescoring(
    model: Network, enc: Tensor, enc_lens: Tensor, ctc_log_probs: Tensor, opts: DecodeOptions,
    fusion: Fusion | None = None
) -> list[list[int]]:
    """WeNet's attention rescoring: a CTC prefix beam search proposes `opts.beam` hypotheses per utterance, and
    the joint objective above (with the fused LMs) picks among them. Only CTC-plausible paths compete, so a
    decoder that loses its place on long input cannot insert or repeat; on short input it matched the joint
    search (measured in docs/performance.md). Hotwords bias the CTC search too: a phrase it never proposes could
    not be picked. enc (B, T', D) -> token ids per utterance."""
    first = DecodeOptions(beam=opts.beam, ctc_weight=1.0)
    scorers = {"ctc": (CTCScorer(ctc_log_probs, enc_lens), 1.0)}
    if fusion is not None and fusion.hotwords is not None:
        scorers["hotwords"] = fusion.scorers(first, enc.device)["hotwords"]
    nbest = beam_search(model, enc, enc_lens, first, scorers)
    ranks = max(len(h) for h in nbest)
    pick = lambda hyps, r: hyps[min(r, len(hyps) - 1)].tokens  # noqa: E731  (short lists repeat their last)
    scores = torch.stack([
        joint_log_prob(model, enc, enc_lens, ctc_log_probs, [pick(h, r) for h in nbest], opts, fusion)
        for r in range(ranks)
    ], dim=1)  # (B, ranks)
    return [pick(h, r) for h, r in zip(nbest, scores.argmax(dim=1).tolist())]
