"""Batched beam search over named, weighted scorers (Watanabe et al. 2017's joint CTC/attention search; ESPnet's
BatchBeamSearch with its scorers; Whisper's stopping rule).

Every hypothesis of every utterance is a row of one tensor (N = utterances x width, width <= beam) and rows move
in lock-step, so a step is one call per scorer; Python loops run over steps only. A step:
  1. the full scorers (`asr.decoding.scorers`: the attention decoder, later language models) score every token;
     when a partial scorer (CTC prefix scores) joins them, only the pre-beam of the best candidates under the
     full scorers is scored further; joint = sum of weight x cumulative score over the scorers;
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

from asr.decoding.options import DecodeOptions, Hypothesis
from asr.decoding.rules import ceil_int, eos_rules, length_limits, normalised
from asr.decoding.scorers import Scorer, Step, joint_scorers
from asr.model.network import Network
from asr.tokenizer import BLANK, SOS_EOS

NEG_INF = float("-inf")


@torch.no_grad()
def beam_search(model: Network, enc: Tensor, enc_lens: Tensor, opts: DecodeOptions,
                scorers: dict[str, tuple[Scorer, float]] | None = None) -> list[list[Hypothesis]]:
    """enc (B, T', D), enc_lens (B,) -> per utterance up to `beam` hypotheses, best first.

    `scorers`: name -> (scorer, weight); default the joint CTC/attention pair at `opts.ctc_weight`."""
    scorers = joint_scorers(model, enc, enc_lens, opts.ctc_weight) if scorers is None else scorers
    scorers = {k: (s, w) for k, (s, w) in scorers.items() if w != 0}
    full = {k: v for k, v in scorers.items() if v[0].full}
    partial = {k: v for k, v in scorers.items() if not v[0].full}
    B, V, K = enc.shape[0], model.cfg.vocab_size, opts.beam
    limits = length_limits(enc_lens, opts)
    alpha = opts.length_alpha
    future = sum(w * s.max_gain for s, w in scorers.values())  # most the joint can rise per token (bonuses)

    utt = torch.arange(B, device=enc.device)  # (N,) utterance of each row; one row per utterance at first
    states = {k: s.init_state(utt) for k, (s, _) in scorers.items()}
    tokens = enc_lens.new_zeros((B, 0))  # (N, U)
    gains = enc.new_zeros((B, 0), dtype=torch.float32)  # (N, U) joint score each token added
    score = enc.new_zeros(B, dtype=torch.float32)  # (N,) joint score; -inf marks a dead row
    ended: list[list[Hypothesis]] = [[] for _ in range(B)]
    n_ended = torch.zeros(B, dtype=torch.long, device=enc.device)  # (B,)
    best_ended = torch.full((B,), NEG_INF, device=enc.device)  # (B,) best normalised ended score
    width = 1

    while utt.numel() > 0:
        N, U = tokens.shape
        Ba = N // width
        # 1. cumulative per-scorer scores of every candidate and of <eos>, then the joint
        steps: dict[str, Step] = {k: s.score(states[k], tokens, None) for k, (s, _) in full.items()}
        cands = _candidates(steps, full, N, V, opts, partial=bool(partial), device=enc.device)  # (N, C)
        C = cands.shape[1]
        steps = {k: st.gather(cands) for k, st in steps.items()}
        steps.update({k: s.score(states[k], tokens, cands) for k, (s, _) in partial.items()})
        joint = enc.new_zeros((N, C), dtype=torch.float32)
        joint_eos = enc.new_zeros(N, dtype=torch.float32)
        for k, (_, w) in scorers.items():
            joint, joint_eos = joint + w * steps[k].totals, joint_eos + w * steps[k].eos
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
            per_scorer = {name: st.eos[rows] for name, st in steps.items()}
            _store(ended, utt[rows], tokens[rows], gains[rows], joint_eos[rows], norm, per_scorer)

        # 3. which utterances stop; the rest keep their best extensions
        first = utt.view(Ba, width)[:, 0]  # (Ba,) utterance of each group of rows
        bound = _bound(top[:, 0], U + 1, limits.max_len[first], future, alpha)  # best a running one could end with
        done = (n_ended[first] >= ceil_int(opts.patience * K)) | (best_ended[first] >= bound) | (top[:, 0] == NEG_INF)
        keep = ~done
        row = (torch.arange(Ba, device=enc.device)[:, None] * width + idx // C)[keep].reshape(-1)  # (N',)
        col = (idx % C)[keep].reshape(-1)  # (N',)
        new_score = top[keep].reshape(-1)
        gain = new_score - score[row]
        tokens = torch.cat([tokens[row], cands[row, col][:, None]], dim=1)
        gains = torch.cat([gains[row], gain.masked_fill(gain.isnan(), NEG_INF)[:, None]], dim=1)
        same_rows = bool(keep.all()) and k == width
        states = {name: s.select(states[name], steps[name], row, col, same_rows) for name, (s, _) in scorers.items()}
        score, utt, width = new_score, utt[row], k

    return [_best_first(hyps, K) for hyps in ended]


def _bound(top: Tensor, length: int, max_len: Tensor, future: float, alpha: float) -> Tensor:
    """(Ba,) the best normalised score a running hypothesis (score `top` at `length` tokens) could end with: log-
    probabilities only fall, so without bonuses that is `top` at the longest length; bonuses may add `future` per
    token still allowed."""
    if future <= 0:
        return normalised(top, max_len, alpha)
    best = top + future * (max_len - length).clamp(min=0)
    return torch.maximum(normalised(best, max_len, alpha), normalised(best, length, alpha))


def _candidates(steps: dict[str, Step], full: dict[str, tuple[Scorer, float]], N: int, V: int,
                opts: DecodeOptions, partial: bool, device: torch.device) -> Tensor:
    """(N, C) candidate tokens: the pre-beam of the full scorers' best when partial scorers join them (CTC costs
    T' per candidate) and one of the full scorers can propose (the decoder: an LM alone would pick the tokens
    CTC may score), else the whole vocabulary (blank and <eos> are masked later)."""
    if not (partial and any(s.proposes for s, _ in full.values())):
        return torch.arange(V, device=device).expand(N, V)
    C = min(V - 2, ceil_int(opts.pre_beam * opts.beam))
    ranked = sum(w * steps[k].totals for k, (_, w) in full.items())  # (N, V)
    ranked[:, [BLANK, SOS_EOS]] = NEG_INF
    return ranked.topk(C, dim=1).indices


def _store(
    ended: list[list[Hypothesis]],
    utt: Tensor,
    tokens: Tensor,
    gains: Tensor,
    log_prob: Tensor,
    norm: Tensor,
    per_scorer: dict[str, Tensor],
) -> None:
    """Append the ended rows (M of them) to their utterances' lists, in one transfer per tensor."""
    named = {k: v.tolist() for k, v in per_scorer.items()}
    for i, (u, toks, g, lp, s) in enumerate(
        zip(utt.tolist(), tokens.tolist(), gains.tolist(), log_prob.tolist(), norm.tolist())
    ):
        ended[u].append(Hypothesis(toks, s, lp, g, {k: v[i] for k, v in named.items()}))


def _best_first(hyps: list[Hypothesis], n: int) -> list[Hypothesis]:
    if not hyps:  # only when no hypothesis could end at all, e.g. min_len beyond what CTC allows
        return [Hypothesis([], NEG_INF, NEG_INF, [], {})]
    return sorted(hyps, key=lambda h: h.score, reverse=True)[:n]
