"""The decoding policy: what every consumer decodes with (`asr transcribe`, `asr evaluate`, validation during
training, `plot-attention`, the demo). It owns the choice of search, the loop guard and its fallback; the
defaults live once, in `DecodeOptions`.

    enc (B, T', D) -> search (greedy / joint beam / rescore) -> search-error check -> loop guard -> token ids

  greedy   the attention decoder's most probable token per step (ctc_weight 1: CTC's best path); also what
           "joint" does with beam 1 and ctc_weight 0 or 1
  joint    beam search on (1 - w) * attention + w * CTC prefix score (`beam.py`, named scorers)
  rescore  CTC prefix beam search, then the joint score picks among its `beam` best (WeNet)

`DecodeOptions.plain()` switches the repetition stop, the search-error check and the loop guard off: the
search's own output, ESPnet's joint CTC/attention beam search (`--plain-search`).

A `Fusion` (`fusion.py`: transformer LM, n-gram, hotwords, length bonus) joins the joint search's scorers and
the rescoring's objective, and the search-error check scores CTC's best path with the same fused objective.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asr.decoding.beam import beam_search
from asr.decoding.ctc_path import ctc_greedy
from asr.decoding.fusion import Fusion
from asr.decoding.greedy import greedy_search
from asr.decoding.options import DecodeOptions, Hypothesis
from asr.decoding.rescore import attention_rescoring, ctc_nll, joint_log_prob
from asr.decoding.rules import normalised, repeating
from asr.decoding.scorers import joint_scorers
from asr.model.asr_model import pad_targets
from asr.model.network import Network


@torch.no_grad()
def decode_encoded(model: Network, enc: Tensor, enc_lens: Tensor, opts: DecodeOptions,
                   log_probs: Tensor | None = None, fusion: Fusion | None = None) -> list[list[int]]:
    """enc (B, T', D), enc_lens (B,) [, CTC log-probs (B, T', V)] -> the best token ids per utterance.
    `fusion`: language models / hotwords to add to the score (not used by the greedy search)."""
    log_probs = model.ctc_log_probs(enc) if log_probs is None else log_probs  # (B, T', V) fp32
    if opts.search == "rescore" and opts.beam > 1:  # only CTC-plausible paths compete: nothing to guard
        return attention_rescoring(model, enc, enc_lens, log_probs, opts, fusion)
    ctc_best = ctc_greedy(log_probs, enc_lens)
    fused = fusion is not None and opts.search != "greedy"
    if opts.ctc_weight == 1 and (opts.search == "greedy" or (opts.beam == 1 and not fused)):
        return ctc_best
    if opts.search == "greedy" or (opts.beam == 1 and opts.ctc_weight == 0 and not fused):
        hyps = greedy_search(model, enc, enc_lens, opts)
    else:  # "joint", and "rescore" with beam 1 (nothing to rescore)
        scorers = joint_scorers(model, enc, enc_lens, opts.ctc_weight, log_probs)
        if fusion is not None:
            scorers.update(fusion.scorers(opts, enc.device))
        nbest = beam_search(model, enc, enc_lens, opts, scorers)
        hyps = [h[0].tokens for h in nbest]
        if opts.search_error_check and (0 < opts.ctc_weight < 1 or (fused and opts.ctc_weight > 0)):
            hyps = search_error_check(model, nbest, ctc_best, enc, enc_lens, log_probs, opts, fusion)
    if opts.ctc_length_tolerance is None:
        return hyps
    plausible = ctc_plausible(hyps, ctc_best, log_probs, enc_lens)
    return [loop_check(h, c, opts, p) for h, c, p in zip(hyps, ctc_best, plausible)]


def search_error_check(model: Network, nbest: list[list[Hypothesis]], ctc_best: list[list[int]], enc: Tensor,
                       enc_lens: Tensor, log_probs: Tensor, opts: DecodeOptions,
                       fusion: Fusion | None = None) -> list[list[int]]:
    """The beam keeps `beam` prefixes; on input far from its training data the attention decoder can push the
    right prefix out early, and the search ends on a path the joint objective itself scores lower than CTC's
    best path (13 s of digits: -79.5 against -74.3, WER 30-54% against 3-10%). So CTC's best path is scored
    with the same objective and wins where it scores higher: a search-error guard that never picks a worse
    hypothesis under the objective."""
    ctc_scores = normalised(joint_log_prob(model, enc, enc_lens, log_probs, ctc_best, opts, fusion),
                            torch.tensor([len(c) for c in ctc_best], device=enc.device), opts.length_alpha)
    return [c if float(s) > h[0].score + 1e-4 else h[0].tokens for h, c, s in zip(nbest, ctc_best, ctc_scores)]


# A hypothesis is CTC-plausible when its CTC log-likelihood is within this many nats per encoder frame of the
# CTC best path's. A decoder that lost its place on long input (a stretch dropped or repeated) is hundreds of
# nats worse on a few hundred frames; a right hypothesis that CTC's best path misspells or drops words from (a
# voice CTC hears badly) is a few nats a word worse: flite rms, 539 test sentences, WER 23.6% with the length
# check alone, 13.4% without it (recipes/tts/RESULTS.md).
CTC_PLAUSIBLE_NATS_PER_FRAME = 0.5


def ctc_plausible(hyps: list[list[int]], ctc_best: list[list[int]], log_probs: Tensor, enc_lens: Tensor
                  ) -> list[bool]:
    """Per utterance: does CTC find the hypothesis about as likely as its own best path (see the constant)?"""
    nll = lambda seqs: ctc_nll(log_probs, enc_lens, *pad_targets(seqs, log_probs.device))  # noqa: E731
    margin = CTC_PLAUSIBLE_NATS_PER_FRAME * enc_lens.float()
    return (nll(hyps) <= nll(ctc_best) + margin).tolist()


def loop_check(hyp: list[int], ctc_best: list[int], opts: DecodeOptions, plausible: bool = False) -> list[int]:
    """On input longer, noisier or quieter than it was trained on, the attention decoder loses its place: it
    repeats a stretch or stops early. CTC can't do either (it accounts for every frame, one label per frame
    at most), so it is the referee: a hypothesis the repetition guard stopped, or whose length is far from
    CTC's best path while CTC finds it implausible (`ctc_plausible`), is replaced by that path. A plausible
    hypothesis of another length stands: there CTC's best path is the one dropping words."""
    tolerance = opts.ctc_length_tolerance or 0.0
    looped = bool(repeating(torch.tensor([hyp]), opts.max_repeats, opts.repeat_ngram)[0]) if hyp else False
    off = abs(len(hyp) - len(ctc_best)) > max(2, tolerance * len(ctc_best)) and not plausible
    return ctc_best if looped or off else hyp
