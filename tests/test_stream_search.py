"""The streaming CTC prefix beam search: chunked == whole, brute force, greedy at beam 1, hotwords inside the
search, WeNet's endpoint rules, and the attention rescoring at an endpoint."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from asr.decoding import DecodeOptions, ctc_greedy
from asr.decoding.endpoint import EndpointRule, endpoint, rescore_final
from asr.decoding.fusion import Fusion
from asr.decoding.rescore import joint_log_prob
from asr.decoding.scorers import HotwordScorer, LengthBonus, LMScorer
from asr.decoding.stream_search import advance, best_tokens, init_state, nbest, stream_scorers, token_frames
from asr.lm.hotwords import ContextGraph
from asr.lm.model import LMConfig, TransformerLM
from asr.model import ASRModel
from asr.tokenizer import BLANK, TableTokenizer


def _log_probs(T: int, V: int, seed: int = 0, sharp: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(sharp * torch.randn(T, V, generator=g), dim=-1)  # (T, V)


def _stream(log_probs: torch.Tensor, beam: int, chunk: int, fused=None):
    state = init_state(fused)
    for start in range(0, log_probs.shape[0], chunk):
        state = advance(state, log_probs[start : start + chunk], beam)
    return state


def _lm(V: int) -> TransformerLM:
    torch.manual_seed(2)
    lm = TransformerLM(LMConfig(vocab_size=V, d_model=16, heads=2, layers=1, ffn=32, dropout=0.0)).eval()
    with torch.no_grad():
        lm.out.weight.mul_(10)  # peaked, so that it moves the search
    return lm


@pytest.mark.parametrize("fused,T,chunks", [("", 60, (1, 4, 7, 16)), ("hotwords+length", 60, (1, 4, 7, 16)),
                                             ("lm", 20, (1, 7))])
def test_chunks_of_any_size_give_the_search_over_the_whole_input(fused, T, chunks):
    V, beam = 30, 6
    lp = _log_probs(T, V, sharp=1.5)
    tok = TableTokenizer("char", [chr(ord("a") + i) for i in range(V - 3)])
    scorers = {}  # fused scorers carry their states across chunks too
    if "hotwords" in fused:
        scorers["hotwords"] = (HotwordScorer(ContextGraph.build([("ab", 1.0), ("cde", 2.0)], tok)), 1.0)
    if "length" in fused:
        scorers["length"] = (LengthBonus(V), 0.5)
    if "lm" in fused:  # one LM step per prefix that enters the beam
        scorers["lm"] = (LMScorer(_lm(V)), 0.3)
    whole = advance(init_state(scorers), lp, beam)
    assert whole.frames == T and len(whole.prefixes) == beam
    for chunk in chunks:  # 60 = 15 x 4 = 8 x 7 + 4 = 3 x 16 + 12
        part = _stream(lp, beam, chunk, scorers)
        assert [t for t, _ in nbest(part, beam)] == [t for t, _ in nbest(whole, beam)]
        assert [s for _, s in nbest(part, beam)] == pytest.approx([s for _, s in nbest(whole, beam)], abs=1e-5)
        assert token_frames(part) == token_frames(whole)
        assert (part.frames, part.trailing_blank) == (whole.frames, whole.trailing_blank)
    empty = advance(whole, lp[:0], beam)  # an empty chunk changes nothing
    assert nbest(empty, beam) == nbest(whole, beam) and empty.frames == T
    if scorers:  # and the fused terms did move the search
        assert nbest(whole, beam) != nbest(advance(init_state(), lp, beam), beam)


def _brute_force(lp: torch.Tensor) -> dict[tuple[int, ...], float]:
    """log P(y) for every label sequence y: every alignment enumerated, collapsed, its probability summed."""
    T, V = lp.shape
    x = lp.double().tolist()
    out: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(V), repeat=T):
        y = tuple(u for i, u in enumerate(path) if u != BLANK and (i == 0 or path[i - 1] != u))
        out.setdefault(y, []).append(sum(x[t][u] for t, u in enumerate(path)))
    return {y: math.log(sum(math.exp(s) for s in ss)) for y, ss in out.items()}


@pytest.mark.parametrize("T,V,seed", [(1, 3, 0), (3, 3, 1), (4, 4, 2), (5, 4, 3), (5, 3, 4)])
def test_a_wide_beam_gives_the_probability_of_every_label_sequence(T, V, seed):
    lp = _log_probs(T, V, seed)
    ref = _brute_force(lp)
    state = advance(init_state(), lp, beam=1000)
    got = dict((tuple(t), s) for t, s in nbest(state, 1000))
    assert got.keys() == ref.keys()
    for y, s in ref.items():
        assert got[y] == pytest.approx(s, abs=1e-5), y
    assert tuple(best_tokens(state)) == max(ref, key=ref.get)
    chunked = dict((tuple(t), s) for t, s in nbest(_stream(lp, 1000, 2), 1000))
    assert chunked.keys() == got.keys() and all(chunked[y] == pytest.approx(got[y], abs=1e-9) for y in got)


@pytest.mark.parametrize("seed", range(5))
def test_beam_one_is_ctc_greedy_on_peaky_input(seed):
    lp = _log_probs(50, 12, seed, sharp=6.0)
    state = _stream(lp, beam=1, chunk=5)
    assert best_tokens(state) == ctc_greedy(lp[None], torch.tensor([50]))[0]
    assert len(token_frames(state)) == len(best_tokens(state))


def test_token_frames_are_the_frames_of_the_best_alignment():
    ids = [BLANK, 5, 5, BLANK, BLANK, 7, BLANK, 7, 7, BLANK]  # "a a - - b - b b -"
    lp = torch.log_softmax(10 * torch.nn.functional.one_hot(torch.tensor(ids), 9).float(), dim=-1)
    state = _stream(lp, beam=3, chunk=4)
    assert best_tokens(state) == [5, 7, 7]
    assert token_frames(state) == [(0, 1, 3), (1, 5, 6), (2, 7, 9)]


WORDS = ["arthur", "arthuse", "painted", "the", "fence", "zebra", "quilt"]


def _heard() -> tuple[torch.Tensor, TableTokenizer]:
    """'arthuse painted', with 'arthur' a close second in its frame."""
    tok = TableTokenizer("word", WORDS)
    logits = torch.full((5, tok.vocab_size), -8.0)
    logits[:, BLANK] = 0.0
    logits[1, tok.index["arthuse"]], logits[1, tok.index["arthur"]] = 2.0, 1.6
    logits[3, tok.index["painted"]] = 2.0
    return torch.log_softmax(logits, dim=-1), tok


def test_hotwords_bias_the_prefix_search_and_nothing_at_weight_zero():
    lp, tok = _heard()
    opts, cpu = DecodeOptions(beam=2), torch.device("cpu")
    plain = _stream(lp, 2, 2)
    assert tok.decode(best_tokens(plain)) == "arthuse painted"
    biased = Fusion(tok).with_hotwords(("arthur",), 1.5)
    assert tok.decode(best_tokens(_stream(lp, 2, 2, stream_scorers(biased, opts, cpu)))) == "arthur painted"
    unsaid = Fusion(tok).with_hotwords(("zebra quilt",), 3.0)  # the acoustics give it no chance: nothing changes
    assert nbest(_stream(lp, 2, 2, stream_scorers(unsaid, opts, cpu)), 2) == nbest(plain, 2)
    off = {"hotwords": (HotwordScorer(biased.hotwords), 0.0)}
    assert nbest(_stream(lp, 2, 2, off), 2) == nbest(plain, 2)
    assert stream_scorers(None, opts, cpu) == {} == stream_scorers(Fusion(tok), opts, cpu)


def _frames_until_endpoint(lp: torch.Tensor, rule: EndpointRule, frame_ms: float) -> int | None:
    state = init_state()
    for t in range(lp.shape[0]):
        state = advance(state, lp[t : t + 1], beam=2)
        if endpoint(state, rule, frame_ms):
            return t + 1
    return None


def _frames(labels: list[int], V: int = 6) -> torch.Tensor:
    return torch.log_softmax(5 * torch.nn.functional.one_hot(torch.tensor(labels), V).float(), dim=-1)


def test_endpoint_rules_fire_at_their_frame_counts():
    rule, ms = EndpointRule(), 40.0  # 5000 / 1000 / 20000 ms = 125 / 25 / 500 frames
    assert rule == EndpointRule(5000.0, 1000.0, 20000.0)
    assert _frames_until_endpoint(_frames([BLANK] * 200), rule, ms) == 125  # rule 1: silence, nothing said
    assert _frames_until_endpoint(_frames([BLANK] * 124), rule, ms) is None
    said = [BLANK] * 10 + [4, 4, 5] + [BLANK] * 40
    assert _frames_until_endpoint(_frames(said), rule, ms) == 13 + 25  # rule 2: 25 silent frames after speech
    assert _frames_until_endpoint(_frames(said[:37]), rule, ms) is None
    speech = [4, 5] * 300  # never silent
    assert _frames_until_endpoint(_frames(speech), rule, ms) == 500  # rule 3: 20 s
    assert _frames_until_endpoint(_frames(speech[:499]), rule, ms) is None
    assert _frames_until_endpoint(_frames(said), EndpointRule(silence_after_speech_ms=2000.0), ms) is None
    assert not endpoint(init_state(), rule, ms)


def _pick(model, enc, lens, lp, state, opts, fusion=None) -> list[int]:
    """The n-best entry with the highest joint score, each scored alone."""
    cands = [t for t, _ in nbest(state, opts.beam)]
    scores = [float(joint_log_prob(model, enc, lens, lp, [c], opts, fusion)[0]) for c in cands]
    return cands[max(range(len(cands)), key=scores.__getitem__)]


def test_rescore_final_picks_the_best_joint_score_of_the_nbest(tiny_cfg):
    torch.manual_seed(0)
    model, V = ASRModel(tiny_cfg).eval(), tiny_cfg.vocab_size
    tok = TableTokenizer("char", list("|abcdefghijkl"))  # V = 16 with the specials
    fusion = Fusion(tok).with_hotwords(("bad",), 1.0)
    moved = 0
    for seed in range(3):
        torch.manual_seed(10 + seed)
        enc, lens = torch.randn(1, 16, 32), torch.tensor([16])  # (1, T', D)
        lp = torch.log_softmax(3 * torch.randn(1, 16, V), dim=-1)  # (1, T', V)
        for opts, fused in ((DecodeOptions(beam=4, ctc_weight=0.3), None),
                            (DecodeOptions(beam=5, ctc_weight=0.5, length_bonus=0.5), fusion)):
            state = _stream(lp[0], opts.beam, 3, stream_scorers(fused, opts, torch.device("cpu")))
            got = rescore_final(model, enc, lens, lp, state, opts, fused)
            assert got == _pick(model, enc, lens, lp, state, opts, fused)
            moved += got != best_tokens(state)
    assert moved > 0  # the decoder does overrule the CTC ranking here, so the test can see a wrong pick


def test_rescore_final_with_nothing_or_only_silence_decoded(tiny_cfg):
    torch.manual_seed(0)
    model, V, opts = ASRModel(tiny_cfg).eval(), tiny_cfg.vocab_size, DecodeOptions(beam=4)
    enc, lens = torch.randn(1, 8, 32), torch.tensor([8])
    assert rescore_final(model, enc, lens, torch.zeros(1, 8, V), init_state(), opts) == []
    assert rescore_final(model, enc[:, :0], torch.tensor([0]), torch.zeros(1, 0, V),
                         init_state(), opts) == []
    lp = torch.log_softmax(torch.randn(1, 8, V) + 6 * (torch.arange(V) == BLANK), dim=-1)
    state = _stream(lp[0], 4, 3)
    assert nbest(state, 4)[0][0] == [] and len(nbest(state, 4)) == 4  # the empty hypothesis competes
    assert rescore_final(model, enc, lens, lp, state, opts) == _pick(model, enc, lens, lp, state, opts)
