"""Batched joint CTC/attention beam search (Watanabe et al. 2017; ESPnet's BatchBeamSearch with its named,
weighted scorers; Whisper's stopping rule).

Every hypothesis of every utterance is a row of one tensor (N = utterances x width, width <= beam) and rows move
in lock-step, so a step is one decoder call and one CTC-prefix call; Python loops run over steps only. A step:
  1. scores each row's candidate next tokens with two named scorers, both cumulative over the prefix:
     "decoder" (attention log-probs via the key/value cache) and "ctc" (prefix scores, computed only for the
     pre-beam of the best attention candidates); joint = (1 - ctc_weight) * decoder + ctc_weight * ctc;
  2. keeps the `beam` best non-<eos> extensions of each utterance; an <eos> extension that ranks among them ends
     its hypothesis, stored per utterance with its length-normalised score (so does a forced end: maximum
     length or repetition guard);
  3. stops an utterance when its best ended hypothesis can't be beaten (joint scores only fall as tokens are
     added), when ceil(patience * beam) hypotheses have ended, or at its maximum length, where all running
     hypotheses must end. Stopped utterances leave the tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asr.decoding.ctc_prefix import CTCPrefixScorer
from asr.decoding.options import DecodeOptions, Hypothesis, ceil_int, eos_rules, length_limits, normalised
from asr.model.asr_model import ASRModel
from asr.model.decoder import DecoderCache
from asr.tokenizer import BLANK, SOS_EOS

NEG_INF = float("-inf")


@torch.no_grad()
def beam_search(model: ASRModel, enc: Tensor, enc_lens: Tensor, opts: DecodeOptions) -> list[list[Hypothesis]]:
    """enc (B, T', D), enc_lens (B,) -> per utterance up to `beam` hypotheses, best first."""
    B, V, K = enc.shape[0], model.cfg.vocab_size, opts.beam
    weights = {"decoder": 1.0 - opts.ctc_weight, "ctc": opts.ctc_weight}
    limits = length_limits(enc_lens, opts)
    alpha = opts.length_alpha

    utt = torch.arange(B, device=enc.device)  # (N,) utterance of each row; one row per utterance at first
    cache = model.decoder.init_cache(enc, enc_lens) if weights["decoder"] > 0 else None
    ctc = CTCPrefixScorer(model.ctc_log_probs(enc), enc_lens) if weights["ctc"] > 0 else None
    ctc_state = ctc.initial_state(utt) if ctc else None
    tokens = enc_lens.new_zeros((B, 0))  # (N, U)
    gains = enc.new_zeros((B, 0), dtype=torch.float32)  # (N, U) joint score each token added
    dec_sum = enc.new_zeros(B, dtype=torch.float32)  # (N,) cumulative decoder log-prob
    score = enc.new_zeros(B, dtype=torch.float32)  # (N,) joint score; -inf marks a dead row
    ended: list[list[Hypothesis]] = [[] for _ in range(B)]
    n_ended = torch.zeros(B, dtype=torch.long, device=enc.device)  # (B,)
    best_ended = torch.full((B,), NEG_INF, device=enc.device)  # (B,) best normalised ended score
    width = 1

    while utt.numel() > 0:
        N, U = tokens.shape
        Ba = N // width
        if cache is not None:
            last = tokens[:, -1:] if U else tokens.new_full((N, 1), SOS_EOS)
            dec_logp, cache = model.decoder.step(last, cache)  # (N, V)
        else:
            dec_logp = enc.new_zeros((N, V), dtype=torch.float32)
        cands = _candidates(dec_logp, opts, use_ctc=ctc is not None)  # (N, C)
        C = cands.shape[1]

        # 1. cumulative per-scorer scores of every candidate and of <eos>, then the joint
        dec_c = dec_sum[:, None] + dec_logp.gather(1, cands)  # (N, C)
        dec_eos = dec_sum + dec_logp[:, SOS_EOS]  # (N,)
        joint, joint_eos = weights["decoder"] * dec_c, weights["decoder"] * dec_eos
        if ctc is not None:
            ext = ctc.extend(ctc_state, cands)
            ctc_eos = ctc.final(ctc_state)  # (N,)
            joint, joint_eos = joint + weights["ctc"] * ext.psi, joint_eos + weights["ctc"] * ctc_eos
        allowed, forced = eos_rules(tokens, limits.max_len[utt], limits.min_eos[utt], opts)
        alive = score > NEG_INF
        special = (cands == BLANK) | (cands == SOS_EOS)
        joint = joint.masked_fill(special | forced[:, None] | ~alive[:, None], NEG_INF)
        joint_eos = joint_eos.masked_fill(~allowed | ~alive, NEG_INF)

        # 2. the best `beam` extensions of each utterance; <eos> extensions that rank among them end
        k = min(K, width * C)
        top, idx = joint.view(Ba, width * C).topk(k, dim=1)  # (Ba, k)
        # A forced end (maximum length, repetition guard) is stored whatever its rank: it stops, it isn't pruned.
        ends = allowed & alive & ((joint_eos >= top[:, -1].repeat_interleave(width)) | forced)  # (N,)
        if bool(ends.any()):
            rows = ends.nonzero().flatten()
            norm = normalised(joint_eos[rows], U, alpha)
            n_ended.index_add_(0, utt[rows], torch.ones_like(rows))
            best_ended.scatter_reduce_(0, utt[rows], norm, reduce="amax")
            per_scorer = {"decoder": dec_eos[rows], "ctc": ctc_eos[rows] if ctc is not None else None}
            _store(ended, utt[rows], tokens[rows], gains[rows], joint_eos[rows], norm, per_scorer, weights)

        # 3. which utterances stop; the rest keep their best extensions
        first = utt.view(Ba, width)[:, 0]  # (Ba,) utterance of each group of rows
        bound = normalised(top[:, 0], limits.max_len[first], alpha)  # best a running hypothesis could end with
        done = (n_ended[first] >= ceil_int(opts.patience * K)) | (best_ended[first] >= bound) | (top[:, 0] == NEG_INF)
        keep = ~done
        row = (torch.arange(Ba, device=enc.device)[:, None] * width + idx // C)[keep].reshape(-1)  # (N',)
        col = (idx % C)[keep].reshape(-1)  # (N',)
        new_score = top[keep].reshape(-1)
        gain = new_score - score[row]
        tokens = torch.cat([tokens[row], cands[row, col][:, None]], dim=1)
        gains = torch.cat([gains[row], gain.masked_fill(gain.isnan(), NEG_INF)[:, None]], dim=1)
        if cache is not None:
            cache = _select_cache(cache, row, same_rows=bool(keep.all()) and k == width)
        dec_sum, score, utt, width = dec_c[row, col], new_score, utt[row], k
        if ctc is not None:
            ctc_state = ctc.select(ctc_state, ext, row, col)

    return [_best_first(hyps, K) for hyps in ended]


def _select_cache(cache: DecoderCache, row: Tensor, same_rows: bool) -> DecoderCache:
    """The decoder cache of the kept hypotheses. While no utterance leaves and the width stays, a row's new
    source row belongs to the same utterance, whose cross-attention keys/values and mask (per utterance, a
    large share of the cache) are then already in place: only the self-attention keys/values move."""
    if not same_rows:
        return cache.select(row)
    self_kv = [None if kv is None else (kv[0].index_select(0, row), kv[1].index_select(0, row)) for kv in cache.self_kv]
    return DecoderCache(self_kv, cache.cross_kv, cache.memory_mask)


def _candidates(dec_logp: Tensor, opts: DecodeOptions, use_ctc: bool) -> Tensor:
    """(N, V) decoder log-probs -> (N, C) candidate tokens: the attention pre-beam when CTC joins the attention
    decoder (CTC costs T' per candidate), else the whole vocabulary (blank and <eos> are masked later)."""
    N, V = dec_logp.shape
    if use_ctc and opts.ctc_weight < 1:
        C = min(V - 2, ceil_int(opts.pre_beam * opts.beam))
        ranked = dec_logp.clone()
        ranked[:, [BLANK, SOS_EOS]] = NEG_INF
        return ranked.topk(C, dim=1).indices
    return torch.arange(V, device=dec_logp.device).expand(N, V)


def _store(
    ended: list[list[Hypothesis]],
    utt: Tensor,
    tokens: Tensor,
    gains: Tensor,
    log_prob: Tensor,
    norm: Tensor,
    per_scorer: dict[str, Tensor | None],
    weights: dict[str, float],
) -> None:
    """Append the ended rows (M of them) to their utterances' lists, in one transfer per tensor."""
    named = {k: v.tolist() for k, v in per_scorer.items() if v is not None and weights[k] > 0}
    for i, (u, toks, g, lp, s) in enumerate(
        zip(utt.tolist(), tokens.tolist(), gains.tolist(), log_prob.tolist(), norm.tolist())
    ):
        ended[u].append(Hypothesis(toks, s, lp, g, {k: v[i] for k, v in named.items()}))


def _best_first(hyps: list[Hypothesis], n: int) -> list[Hypothesis]:
    if not hyps:  # only when no hypothesis could end at all, e.g. min_len beyond what CTC allows
        return [Hypothesis([], NEG_INF, NEG_INF, [], {})]
    return sorted(hyps, key=lambda h: h.score, reverse=True)[:n]
