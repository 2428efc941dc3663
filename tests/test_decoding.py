"""Search on tiny random-weight models: outputs are arbitrary but deterministic, so searches can be checked
against each other, against brute-force enumeration and against the model's own teacher-forced scores."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from asr.decoding import CTCPrefixScorer, DecodeOptions, beam_search, ctc_greedy, decode, greedy_search
from asr.decoding.rules import repeating
from asr.errors import UserError
from asr.model import ASRModel, ModelConfig
from asr.tokenizer import BLANK, SOS_EOS

V = 12
ENC_LENS = torch.tensor([20, 13, 7])


def _model(vocab: int = V, eos_bias: float = -1.0, seed: int = 0) -> ASRModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=vocab, d_model=32, heads=2, enc_layers=1, dec_layers=2, ffn=64, dropout=0.0,
        subsampling=4, subsampling_channels=8,
    )
    model = ASRModel(cfg).eval()
    with torch.no_grad():  # a random decoder would otherwise pick <eos> about as often as anything else
        model.decoder.out.bias[SOS_EOS] += eos_bias
    return model


def _enc(lens: torch.Tensor = ENC_LENS, d: int = 32, seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(len(lens), int(lens.max()), d)  # (B, T', D); padding is whatever: it must be ignored


def test_beam_one_equals_greedy():
    model, enc = _model(), _enc()
    opts = DecodeOptions(beam=1, ctc_weight=0.0)
    greedy = greedy_search(model, enc, ENC_LENS, opts)
    beam = [hyps[0].tokens for hyps in beam_search(model, enc, ENC_LENS, opts)]
    assert beam == greedy
    assert all(len(g) >= 3 for g in greedy)  # non-trivial outputs
    assert all(len(g) <= n for g, n in zip(greedy, ENC_LENS.tolist()))


def test_batched_beam_equals_one_at_a_time():
    model, enc = _model(), _enc()
    opts = DecodeOptions(beam=4, ctc_weight=0.3)
    batched = beam_search(model, enc, ENC_LENS, opts)
    for b, n in enumerate(ENC_LENS.tolist()):
        alone = beam_search(model, enc[b : b + 1, :n], ENC_LENS[b : b + 1], opts)[0]
        assert [h.tokens for h in batched[b]] == [h.tokens for h in alone]
        for x, y in zip(batched[b], alone):
            assert x.score == pytest.approx(y.score, abs=1e-4)
    assert len({tuple(hyps[0].tokens) for hyps in batched}) == 3
    for hyps in batched:
        assert len(hyps) == 4 and [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_hypothesis_scores_equal_teacher_forced_scores():
    model, enc = _model(), _enc()
    opts = DecodeOptions(beam=3, ctc_weight=0.4, length_penalty=0.5)
    for b, hyps in enumerate(beam_search(model, enc, ENC_LENS, opts)):
        for h in hyps:
            tokens = torch.tensor([[SOS_EOS, *h.tokens, SOS_EOS]])
            n = ENC_LENS[b : b + 1]
            logits, _ = model.decoder(tokens[:, :-1], enc[b : b + 1], n)
            dec = torch.log_softmax(logits.float(), -1)[0].gather(1, tokens[0, 1:, None]).sum().item()
            logp = model.ctc_log_probs(enc[b : b + 1]).transpose(0, 1)  # (T', 1, V)
            ctc = -F.ctc_loss(logp, torch.tensor([h.tokens]), n, torch.tensor([len(h.tokens)]), reduction="sum").item()
            assert h.scores["decoder"] == pytest.approx(dec, abs=1e-3)
            assert h.scores["ctc"] == pytest.approx(ctc, abs=1e-3)
            assert h.log_prob == pytest.approx(0.6 * dec + 0.4 * ctc, abs=1e-3)
            assert h.score == pytest.approx(h.log_prob / (len(h.tokens) + 1) ** 0.5, abs=1e-4)
            assert len(h.token_log_probs) == len(h.tokens) and all(g <= 0 for g in h.token_log_probs)


def _paths(T: int, V: int):
    """Every CTC alignment (T frames over V symbols) and the label sequence it reads."""
    for path in itertools.product(range(V), repeat=T):
        labels = [s for i, s in enumerate(path) if s != BLANK and (i == 0 or s != path[i - 1])]
        yield path, labels


def test_ctc_prefix_scores_equal_brute_force():
    torch.manual_seed(0)
    T, Vc = 5, 4
    log_probs = torch.log_softmax(torch.randn(2, T, Vc) * 2, dim=-1)  # (B, T, V)
    lens = torch.tensor([5, 4])  # the second utterance is padded by one frame
    prefixes = [[], [2], [3], [2, 2], [2, 3], [3, 2, 3], [2, 2, 2], [3, 3, 2, 3]]
    brute_prefix = {}
    brute_full = {}
    for b in range(2):
        n = int(lens[b])
        for g in prefixes:
            prefix = full = -np.inf
            for path, labels in _paths(n, Vc):
                lp = sum(log_probs[b, t, s].item() for t, s in enumerate(path))
                if labels[: len(g)] == g:
                    prefix = np.logaddexp(prefix, lp)
                if labels == g:
                    full = np.logaddexp(full, lp)
            brute_prefix[b, tuple(g)], brute_full[b, tuple(g)] = prefix, full

    scorer = CTCPrefixScorer(log_probs, lens)
    for g in prefixes:
        # both utterances in one state; every step scores all labels plus <eos> as candidates
        state = scorer.initial_state(torch.tensor([0, 1]))
        cands = torch.tensor([[2, 3, SOS_EOS], [3, 2, SOS_EOS]])  # (N, C), different orders per row
        for u, token in enumerate(g):
            ext = scorer.extend(state, cands)
            col = torch.stack([(cands[i] == token).nonzero()[0, 0] for i in range(2)])
            state = scorer.select(state, ext, torch.tensor([0, 1]), col)
        for b in range(2):
            assert state.psi[b].item() == pytest.approx(brute_prefix[b, tuple(g)], abs=1e-4), (b, g)
            assert scorer.final(state)[b].item() == pytest.approx(brute_full[b, tuple(g)], abs=1e-4), (b, g)
        ext = scorer.extend(state, cands)
        eos_col = cands.shape[1] - 1
        torch.testing.assert_close(ext.psi[:, eos_col], scorer.final(state))
        if g:  # torch's CTC forward algorithm agrees on the full-sequence score
            target = torch.tensor([g, g])
            nll = F.ctc_loss(log_probs.transpose(0, 1), target, lens, torch.tensor([len(g)] * 2), reduction="none")
            torch.testing.assert_close(scorer.final(state), -nll, atol=1e-4, rtol=1e-4)


def test_ctc_only_beam_search_finds_most_probable_sequence():
    model = _model(vocab=4)
    enc, lens = _enc(torch.tensor([5, 4]), seed=3), torch.tensor([5, 4])
    with torch.no_grad():  # label 1 is <eos> here: make CTC paths through it negligible
        model.ctc.bias[SOS_EOS] = -30.0
    log_probs = model.ctc_log_probs(enc)
    # beam 64 keeps every prefix of labels {2, 3} up to 5 frames, and alpha 0 makes the stopping bound exact
    opts = DecodeOptions(beam=64, ctc_weight=1.0, length_penalty=0.0, max_repeats=0)
    hyps = beam_search(model, enc, lens, opts)
    for b in range(2):
        seq_logp: dict[tuple[int, ...], float] = {}  # log p(y | x) of every label sequence, by summing its paths
        for path, labels in _paths(int(lens[b]), 4):
            lp = sum(log_probs[b, t, s].item() for t, s in enumerate(path))
            seq_logp[tuple(labels)] = float(np.logaddexp(seq_logp.get(tuple(labels), -np.inf), lp))
        best = max((y for y in seq_logp if SOS_EOS not in y), key=seq_logp.__getitem__)
        assert hyps[b][0].log_prob == pytest.approx(seq_logp[best], abs=1e-4)
        assert hyps[b][0].tokens == list(best) and len(best) >= 2
        assert hyps[b][0].scores["ctc"] == pytest.approx(hyps[b][0].log_prob)


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
    path = [[2, 2, 0, 2, 3, 3, 0, 0, 4], [5, 0, 5, 5, 6, 2, 2, 2, 2]]
    log_probs = F.one_hot(torch.tensor(path), 7).float().log()  # (B, T, V): -inf except on the path
    assert ctc_greedy(log_probs, torch.tensor([9, 5])) == [[2, 2, 3, 4], [5, 5, 6]]


def _decoder_next(model: ASRModel, enc: torch.Tensor, prefix: tuple[int, ...]) -> torch.Tensor:
    """One utterance's enc (1, T', D) -> (V,) the decoder's next-token log-probs after `prefix`: a whole
    uncached teacher-forced pass, not the search's key/value cache."""
    logits, _ = model.decoder(torch.tensor([[SOS_EOS, *prefix]]), enc, torch.tensor([enc.shape[1]]))
    return torch.log_softmax(logits[0, -1].double(), dim=-1)


def _ctc_prefix(log_probs: torch.Tensor, prefix: tuple[int, ...]) -> float:
    """log p(the labels begin with `prefix` | x) for CTC log-probs (T', V), by another route than
    CTCPrefixScorer: sum over the frame t where prefix's last label c is first emitted of p_t(c) x P(frames
    before t read the rest of the prefix, and end in a blank where that rest ends in c), the reading
    probabilities from torch's CTC loss over the first frames."""
    T, p = log_probs.shape[0], log_probs.double().exp()
    rest, c = prefix[:-1], prefix[-1]
    nll = F.ctc_loss(log_probs.double()[:, None].expand(T, T, -1), torch.tensor(rest * T, dtype=torch.long),
                     torch.arange(1, T + 1), torch.full((T,), len(rest)), reduction="none")
    read = [1.0 if not rest else 0.0, *(-nll).exp().tolist()]  # read[s]: P(frames 1..s read `rest`), s = 0..T
    total = 0.0
    for s in range(T):  # s frames before c's first one
        blank_ended = read[s - 1] * p[s - 1, BLANK].item() if s else read[0]
        before = blank_ended + (read[s] - blank_ended if s and (not rest or rest[-1] != c) else 0.0)
        total += p[s, c].item() * before
    return math.log(total) if total > 0 else float("-inf")


def _reference_beam(model: ASRModel, enc: torch.Tensor, length: int, beam: int, w: float,
                    pre_beam: float = DecodeOptions().pre_beam) -> list[list[int]]:
    """One utterance's enc (1, T', D) -> its `beam` best sequences of exactly `length` tokens, best first, by the
    joint score (1 - w) log p_att + w log p_ctc: the plain lock-step beam search written the slow way
    (`_decoder_next`, `_ctc_prefix`, the whole-sequence CTC loss at the end). Like ESPnet's, with 0 < w < 1 only
    each prefix's ceil(pre_beam x beam) best tokens under the decoder are CTC-scored."""
    ctc = model.ctc_log_probs(enc)[0]  # (T', V)
    T = ctc.shape[0]
    specials = (BLANK, SOS_EOS)
    beams = [((), 0.0)]  # (prefix, decoder log-prob)
    for _ in range(length):
        scored = []
        for prefix, dec in beams:
            step = _decoder_next(model, enc, prefix)
            step[list(specials)] = float("-inf")
            tokens = step.topk(math.ceil(pre_beam * beam)).indices.tolist() if 0 < w < 1 else \
                [v for v in range(len(step)) if v not in specials]
            for c in tokens:
                seq, d = (*prefix, c), dec + step[c].item()
                scored.append(((1 - w) * d + (w * _ctc_prefix(ctc, seq) if w else 0.0), seq, d))
        beams = [(seq, d) for _, seq, d in sorted(scored, reverse=True)[:beam]]
    ended = []
    for seq, dec in beams:
        whole = -F.ctc_loss(ctc.double()[:, None], torch.tensor([seq]), [T], [len(seq)], reduction="sum").item()
        ended.append(((1 - w) * (dec + _decoder_next(model, enc, seq)[SOS_EOS].item()) + w * whole, seq))
    return [list(seq) for _, seq in sorted(ended, reverse=True)]


def test_max_length_follows_encoder_length():
    """Where <eos> can't win before the maximum length (or is suppressed until it), every hypothesis ends there:
    the searches must then return what the plain beam search finds for exactly that many tokens, best first."""
    model, enc = _model(eos_bias=-1e4), _enc()  # <eos> never wins on its own
    max_len = [10, 7, 4]  # ceil(0.5 * T')
    alone = [(enc[b : b + 1, :n], L) for b, (n, L) in enumerate(zip(ENC_LENS.tolist(), max_len))]
    opts = DecodeOptions(beam=1, ctc_weight=0.0, max_len_ratio=0.5, max_repeats=0)
    assert greedy_search(model, enc, ENC_LENS, opts) == [_reference_beam(model, e, L, 1, 0.0)[0] for e, L in alone]
    joint = DecodeOptions(beam=3, ctc_weight=0.3, max_len_ratio=0.5, max_repeats=0)
    got = [[h.tokens for h in hyps] for hyps in beam_search(model, enc, ENC_LENS, joint)]
    assert got == [_reference_beam(model, e, L, 3, 0.3) for e, L in alone]
    eager = _model(eos_bias=5.0)  # <eos> is the decoder's first choice at every step
    exact = DecodeOptions(beam=3, ctc_weight=0.0, suppress_eos_until=9)
    got = [[h.tokens for h in hyps] for hyps in beam_search(eager, enc, ENC_LENS, exact)]
    assert got == [_reference_beam(eager, e, 9, 3, 0.0) for e, _ in alone]


def test_repetition_guard_stops_a_looping_decoder():
    model, enc = _model(eos_bias=-1e4), _enc()
    with torch.no_grad():
        model.decoder.out.bias[5] += 1e3  # token 5 always wins
    looping = DecodeOptions(beam=1, ctc_weight=0.0, max_repeats=0)
    assert greedy_search(model, enc, ENC_LENS, looping) == [[5] * n for n in ENC_LENS.tolist()]
    guarded = DecodeOptions(beam=1, ctc_weight=0.0, max_repeats=3)
    assert greedy_search(model, enc, ENC_LENS, guarded) == [[5, 5, 5]] * 3
    beam = beam_search(model, enc, ENC_LENS, DecodeOptions(beam=2, ctc_weight=0.0, max_repeats=4))
    for hyps, n in zip(beam[:2], ENC_LENS.tolist()):  # long enough to loop: every hypothesis was stopped
        assert len(hyps) == 2
        assert all(len(h.tokens) < n and h.tokens[-4:] == [5] * 4 for h in hyps)


def test_repeating_finds_ngram_loops():
    tokens = torch.tensor([[7, 3, 4, 3, 4, 3, 4], [7, 3, 4, 3, 4, 4, 4], [5, 5, 5, 5, 5, 5, 5]])
    assert repeating(tokens, 3, 2).tolist() == [True, True, True]
    assert repeating(tokens, 3, 1).tolist() == [False, True, True]
    assert repeating(tokens, 4, 3).tolist() == [False, False, True]


def test_decode_from_waveforms_and_option_errors():
    model = _model().train()
    torch.manual_seed(2)
    wave, lens = torch.randn(2, 8000), torch.tensor([8000, 5000])
    greedy = decode(model, wave, lens, DecodeOptions(beam=1, ctc_weight=0.0))
    assert model.training  # its mode is restored
    assert greedy == decode(model, wave, lens, DecodeOptions(beam=1, ctc_weight=0.0))  # no dropout in decode
    enc, enc_lens, _ = model.eval().encode(wave, lens)
    ctc = ctc_greedy(model.ctc_log_probs(enc), enc_lens)
    assert decode(model, wave, lens, DecodeOptions(beam=1, ctc_weight=1.0)) == ctc
    plain = DecodeOptions(beam=3).plain()  # the search's own best, no guard replacing it
    beam = decode(model, wave, lens, plain)
    assert beam == [hyps[0].tokens for hyps in beam_search(model, enc, enc_lens, plain)] and all(beam)
    with pytest.raises(UserError, match="ctc_weight"):
        DecodeOptions(ctc_weight=1.5)


def test_joint_log_prob_of_given_sequences_equals_the_beams_scores():
    """The rescorer the search-error guard uses must score a sequence exactly as the search does (batched, with
    padding in both the encoder states and the token sequences)."""
    from asr.decoding.rescore import joint_log_prob

    model, enc = _model(), _enc()
    for w in (0.3, 0.0, 1.0):
        nbest = beam_search(model, enc, ENC_LENS, DecodeOptions(beam=3, ctc_weight=w))
        for rank in range(3):
            seqs = [hyps[min(rank, len(hyps) - 1)].tokens for hyps in nbest]
            got = joint_log_prob(model, enc, ENC_LENS, model.ctc_log_probs(enc), seqs, DecodeOptions(ctc_weight=w))
            want = [hyps[min(rank, len(hyps) - 1)].log_prob for hyps in nbest]
            np.testing.assert_allclose(got.numpy(), want, atol=1e-3)


def test_length_penalty_is_a_raw_sum_with_ctc_and_a_mean_without():
    assert DecodeOptions(ctc_weight=0.3).length_alpha == 0.0
    assert DecodeOptions(ctc_weight=0.0).length_alpha == 1.0
    assert DecodeOptions(ctc_weight=0.3, length_penalty=0.5).length_alpha == 0.5
    with pytest.raises(UserError):
        DecodeOptions(length_penalty=-1.0)


def test_search_error_guard_takes_the_ctc_path_only_when_the_objective_prefers_it():
    from asr.decoding.options import Hypothesis
    from asr.decoding.policy import search_error_check as guard
    from asr.decoding.rescore import joint_log_prob

    model, enc = _model(), _enc()
    logp = model.ctc_log_probs(enc)
    ctc_best = ctc_greedy(logp, ENC_LENS)
    opts = DecodeOptions(beam=3, ctc_weight=0.3)
    ctc_scores = joint_log_prob(model, enc, ENC_LENS, logp, ctc_best, DecodeOptions(ctc_weight=0.3)).tolist()
    worse = [[Hypothesis([5, 5], s - 1.0, s - 1.0, [])] for s in ctc_scores]  # alpha is 0: score = log_prob
    better = [[Hypothesis([6], s + 1.0, s + 1.0, [])] for s in ctc_scores]
    assert guard(model, worse, ctc_best, enc, ENC_LENS, logp, opts) == ctc_best
    assert guard(model, better, ctc_best, enc, ENC_LENS, logp, opts) == [[6]] * 3


def test_attention_rescoring_picks_the_ctc_hypothesis_the_joint_score_prefers():
    from asr.decoding.rescore import attention_rescoring, joint_log_prob

    model, enc = _model(), _enc()
    logp = model.ctc_log_probs(enc)
    nbest = beam_search(model, enc, ENC_LENS, DecodeOptions(beam=4, ctc_weight=1.0))
    got = attention_rescoring(model, enc, ENC_LENS, logp, DecodeOptions(beam=4, ctc_weight=0.3))
    for b, hyps in enumerate(nbest):
        n = int(ENC_LENS[b])
        scores = [float(joint_log_prob(model, enc[b : b + 1, :n], ENC_LENS[b : b + 1], logp[b : b + 1, :n],
                                       [h.tokens], DecodeOptions(ctc_weight=0.3))[0]) for h in hyps]
        assert got[b] == hyps[int(np.argmax(scores))].tokens
    assert got != [h[0].tokens for h in nbest]  # here the decoder overrules CTC's ranking for some utterances
    # with CTC alone the first CTC hypothesis wins
    first = attention_rescoring(model, enc, ENC_LENS, logp, DecodeOptions(beam=4, ctc_weight=1.0))
    assert first == [h[0].tokens for h in nbest]


def test_transcribe_options_reject_an_unknown_search():
    from asr.inference.options import TranscribeOptions

    with pytest.raises(UserError):
        TranscribeOptions.of(search="viterbi")
    with pytest.raises(UserError):
        TranscribeOptions.of(beem=4)  # a misspelt option is an error, not silently ignored
    assert TranscribeOptions.of(beam=8, vad=False).decode.beam == 8


class FixedLogProbs:
    """A third scorer for the tests: the same next-token log-distribution (V,) at every step (a unigram LM)."""

    full, max_gain, proposes = True, 0.0, False

    def __init__(self, logp: torch.Tensor) -> None:
        self.logp = logp

    def init_state(self, utt: torch.Tensor) -> torch.Tensor:
        return torch.zeros(utt.shape[0])  # (N,) cumulative score

    def score(self, state, tokens, cands):
        from asr.decoding.scorers import Step

        step = Step(state[:, None] + self.logp[None, :], state + self.logp[SOS_EOS])
        return step if cands is None else step.gather(cands)

    def select(self, state, step, row, col, same_rows):
        return step.totals[row, col]


def test_a_named_scorer_plugs_into_the_beam_with_its_weight():
    """The beam sums weight x scorer over named scorers: a scorer of weight 0 changes nothing, and with weight
    w every hypothesis' joint score is the weighted sum of its per-scorer totals, each total what that scorer
    alone gives the whole sequence."""
    from asr.decoding.scorers import joint_scorers

    model, enc = _model(), _enc()
    opts = DecodeOptions(beam=3, ctc_weight=0.3, max_repeats=0)
    torch.manual_seed(5)
    logp = torch.log_softmax(3 * torch.randn(V), dim=0)
    base = beam_search(model, enc, ENC_LENS, opts)
    silent = beam_search(model, enc, ENC_LENS, opts,
                         {**joint_scorers(model, enc, ENC_LENS, 0.3), "unigram": (FixedLogProbs(logp), 0.0)})
    assert [[(h.tokens, h.score) for h in hs] for hs in silent] == [[(h.tokens, h.score) for h in hs] for hs in base]

    weights = {"decoder": 0.7, "ctc": 0.3, "unigram": 0.5}
    mixed = beam_search(model, enc, ENC_LENS, opts,
                        {**joint_scorers(model, enc, ENC_LENS, 0.3), "unigram": (FixedLogProbs(logp), 0.5)})
    for hs in mixed:
        for h in hs:
            assert set(h.scores) == set(weights)
            assert h.log_prob == pytest.approx(sum(w * h.scores[k] for k, w in weights.items()), abs=1e-4)
            assert h.scores["unigram"] == pytest.approx(float(logp[h.tokens].sum() + logp[SOS_EOS]), abs=1e-4)
    assert [h[0].tokens for h in mixed] != [h[0].tokens for h in base]  # the third scorer does move the search


def test_ctc_plausibility_tells_a_misspelt_best_path_from_a_lost_decoder():
    """CTC log-probs that spell 3 4 5 6 over 40 frames, with 7 a close second where 6 is: a hypothesis saying 7
    there is a few nats worse (plausible); one that stopped after two tokens or repeats is far worse."""
    from asr.decoding.policy import ctc_plausible

    T, target = 40, [3, 4, 5, 6]
    logp = torch.full((1, T, V), -12.0)
    for t in range(T):
        logp[0, t, target[t * 4 // T] if t % 10 < 5 else BLANK] = -0.01
        if 30 <= t < 35:
            logp[0, t, 7] = -2.0
    logp = torch.log_softmax(logp, dim=-1)
    lens = torch.tensor([T])
    best = ctc_greedy(logp, lens)
    assert best == [target]
    assert ctc_plausible([[3, 4, 5, 7]], best, logp, lens) == [True]  # one unit off: a few nats
    assert ctc_plausible([[3, 4]], best, logp, lens) == [False]  # stopped early
    assert ctc_plausible([[3, 4, 5, 6, 4, 5, 6, 4, 5, 6]], best, logp, lens) == [False]  # looping
