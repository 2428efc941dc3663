"""Shallow fusion: the transformer LM, ARPA n-grams, hotwords and the length bonus as named scorers of the beam
search, and the same terms for whole sequences (rescoring, the search-error check)."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from asr.decoding import DecodeOptions, beam_search
from asr.decoding.fusion import Fusion
from asr.decoding.policy import decode_encoded
from asr.decoding.scorers import HotwordScorer, Step, joint_scorers
from asr.errors import UserError
from asr.lm.arpa import LN10, OOV_LOG10, read_arpa
from asr.lm.hotwords import ContextGraph, read_hotwords
from asr.lm.model import LMConfig, TransformerLM
from asr.model import ASRModel, ModelConfig
from asr.tokenizer import SOS_EOS, TableTokenizer, WordUnits

CHARS = ["|", "a", "b", "c", "d", "e", "f", "g", "h"]  # with the 3 specials: V = 12
V = 12
ENC_LENS = torch.tensor([20, 13, 7])


def _model(seed: int = 0) -> ASRModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=V, d_model=32, heads=2, enc_layers=1, dec_layers=2, ffn=64, dropout=0.0,
                      subsampling=4, subsampling_channels=8)
    model = ASRModel(cfg).eval()
    with torch.no_grad():
        model.decoder.out.bias[SOS_EOS] -= 1.0
    return model


def _enc(seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(len(ENC_LENS), int(ENC_LENS.max()), 32)  # (B, T', D)


def _lm(seed: int = 2, vocab: int = V) -> TransformerLM:
    torch.manual_seed(seed)
    lm = TransformerLM(LMConfig(vocab_size=vocab, d_model=32, heads=4, layers=2, ffn=64, dropout=0.0)).eval()
    with torch.no_grad():
        lm.out.weight.mul_(20)  # a peaked LM, so that it moves the search
    return lm


# ---- the transformer LM ---------------------------------------------------------------------------------------
def test_lm_cache_equals_full_pass_and_batching_changes_nothing():
    lm = _lm()
    seqs = [[3, 4, 5, 6, 7], [8, 9], [10]]
    together = lm.sequence_log_prob(seqs)
    for i, s in enumerate(seqs):
        alone = lm.sequence_log_prob([s])[0]
        logp, cache = lm.init_cache(1, torch.device("cpu"))
        stepped = 0.0
        for t in s:
            stepped += float(logp[0, t].detach())
            logp, cache = lm.step(torch.tensor([[t]]), cache)
        stepped += float(logp[0, SOS_EOS].detach())
        assert float(together[i]) == pytest.approx(stepped, abs=1e-4) == pytest.approx(float(alone), abs=1e-4)


def test_lm_weight_zero_is_the_search_without_the_lm_token_for_token():
    model, enc = _model(), _enc()
    fusion = Fusion(TableTokenizer("char", CHARS), lm=_lm())
    for search in ("joint", "rescore"):
        plain = DecodeOptions(search=search, beam=4, ctc_weight=0.3)
        off = DecodeOptions(search=search, beam=4, ctc_weight=0.3, lm_weight=0.0)
        on = DecodeOptions(search=search, beam=4, ctc_weight=0.3, lm_weight=0.8)
        base = decode_encoded(model, enc, ENC_LENS, plain)
        assert decode_encoded(model, enc, ENC_LENS, off, fusion=fusion) == base
        assert decode_encoded(model, enc, ENC_LENS, on, fusion=fusion) != base  # the LM does move this search
    # and the n-best lists, scores included
    opts = DecodeOptions(beam=4, ctc_weight=0.3, lm_weight=0.0)
    scorers = {**joint_scorers(model, enc, ENC_LENS, 0.3), **fusion.scorers(opts, enc.device)}
    a, b = beam_search(model, enc, ENC_LENS, opts), beam_search(model, enc, ENC_LENS, opts, scorers)
    assert [[(h.tokens, h.score) for h in x] for x in a] == [[(h.tokens, h.score) for h in x] for x in b]


def test_fused_scores_add_up_to_the_joint_score():
    """Every hypothesis' joint score is the weighted sum of its scorers' totals, and the LM's total is what the
    LM gives the whole sequence in one pass (the cache is reordered with the beam correctly)."""
    model, enc, lm = _model(), _enc(), _lm()
    opts = DecodeOptions(beam=4, ctc_weight=0.3, lm_weight=0.5, length_bonus=0.7, max_repeats=0)
    fusion = Fusion(TableTokenizer("char", CHARS), lm=lm)
    scorers = {**joint_scorers(model, enc, ENC_LENS, 0.3), **fusion.scorers(opts, enc.device)}
    weights = {"decoder": 0.7, "ctc": 0.3, "lm": 0.5, "length": 0.7}
    for hyps in beam_search(model, enc, ENC_LENS, opts, scorers):
        assert len(hyps) >= 3
        for h in hyps:
            assert set(h.scores) == set(weights)
            assert h.log_prob == pytest.approx(sum(w * h.scores[k] for k, w in weights.items()), abs=1e-3)
            assert h.scores["lm"] == pytest.approx(float(lm.sequence_log_prob([h.tokens])[0]), abs=1e-3)
            assert h.scores["length"] == len(h.tokens)


# ---- ARPA n-grams ---------------------------------------------------------------------------------------------
ARPA = """
\\data\\
ngram 1=5
ngram 2=3
ngram 3=1

\\1-grams:
-1.0\t<s>\t-0.5
-0.7\t</s>
-0.6\tab\t-0.3
-0.9\tcd\t-0.2
-1.5\t<unk>

\\2-grams:
-0.2\t<s> ab\t-0.1
-0.4\tab cd
-0.3\tcd </s>

\\3-grams:
-0.05\t<s> ab cd

\\end\\
"""


def _arpa(tmp_path: Path, gz: bool = False) -> Path:
    path = tmp_path / ("lm.arpa.gz" if gz else "lm.arpa")
    (gzip.open(path, "wt") if gz else path.open("w")).write(ARPA)
    return path


def test_arpa_scores_follow_katz_backoff(tmp_path):
    for gz in (False, True):
        lm = read_arpa(_arpa(tmp_path, gz))
        assert lm.order == 3
        assert lm.score(("<s>",), "ab")[0] == pytest.approx(-0.2 * LN10)  # listed bigram
        assert lm.score(("<s>", "ab"), "cd")[0] == pytest.approx(-0.05 * LN10)  # listed trigram
        # "ab ab": no bigram, so backoff(ab) + p(ab); the context (<s>, ab) has backoff -0.1 first
        assert lm.score(("<s>", "ab"), "ab")[0] == pytest.approx((-0.1 - 0.3 - 0.6) * LN10)
        assert lm.score(("ab",), "zz")[0] == pytest.approx(-1.5 * LN10)  # unknown word: <unk>
        assert lm.final(("ab", "cd")) == pytest.approx(-0.3 * LN10)
        assert lm.sentence_log_prob(["ab", "cd"]) == pytest.approx((-0.2 - 0.05 - 0.3) * LN10)
    no_unk = tmp_path / "nounk.arpa"
    no_unk.write_text(ARPA.replace("ngram 1=5", "ngram 1=4").replace("-1.5\t<unk>\n", ""))
    assert read_arpa(no_unk).score(("ab",), "zz")[0] == pytest.approx(OOV_LOG10 * LN10)


def test_a_file_that_is_not_arpa_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.arpa"
    bad.write_text("hello world\n")
    with pytest.raises(UserError, match="not an ARPA file"):
        read_arpa(bad)
    broken = tmp_path / "broken.arpa"
    broken.write_text(ARPA.replace("-0.4\tab cd", "-0.4\tab"))
    with pytest.raises(UserError, match=r"broken.arpa:\d+: an 2-gram line"):
        read_arpa(broken)
    with pytest.raises(UserError, match="not found"):
        read_arpa(tmp_path / "missing.arpa")


def test_word_units_of_each_tokenizer_kind():
    chars = WordUnits.of(TableTokenizer("char", CHARS))
    tok = TableTokenizer("char", CHARS)
    assert chars.words(tok.encode("ab cd a")) == ["ab", "cd", "a"]
    words = WordUnits.of(TableTokenizer("word", ["ab", "cd"]))
    assert words.words([3, 4, 3]) == ["ab", "cd", "ab"]


def test_ngram_scorer_totals_are_the_words_sentence_scores(tmp_path):
    """Scored at word ends inside a character search, each hypothesis' n-gram total is the ARPA score of its
    words and </s>; and the n-gram moves the search."""
    model, enc = _model(), _enc()
    tok = TableTokenizer("char", CHARS)
    fusion = Fusion(tok, ngram=read_arpa(_arpa(tmp_path)))
    opts = DecodeOptions(beam=4, ctc_weight=0.3, ngram_weight=1.0, max_repeats=0)
    scorers = {**joint_scorers(model, enc, ENC_LENS, 0.3), **fusion.scorers(opts, enc.device)}
    units = WordUnits.of(tok)
    for hyps in beam_search(model, enc, ENC_LENS, opts, scorers):
        for h in hyps:
            assert h.scores["ngram"] == pytest.approx(fusion.ngram.sentence_log_prob(units.words(h.tokens)), abs=1e-4)
    base = decode_encoded(model, enc, ENC_LENS, DecodeOptions(beam=4, ctc_weight=0.3))
    assert decode_encoded(model, enc, ENC_LENS, opts, fusion=fusion) != base
    assert decode_encoded(model, enc, ENC_LENS, DecodeOptions(beam=4, ctc_weight=0.3, ngram_weight=0.0),
                          fusion=fusion) == base


# ---- hotwords -------------------------------------------------------------------------------------------------
WORDS = ["arthur", "arthuse", "painted", "the", "fence", "new", "york", "city", "zebra", "quilt"]  # V = 13


def _graph(phrases: list[tuple[str, float]]) -> tuple[ContextGraph, TableTokenizer]:
    tok = TableTokenizer("word", WORDS)
    return ContextGraph.build(phrases, tok), tok


def test_hotword_bonus_is_kept_for_whole_phrases_and_taken_back_for_broken_ones():
    g, tok = _graph([("new york city", 1.0), ("arthur", 2.0), ("york", 0.5)])
    ids = tok.encode
    assert g.sequence_score(ids("arthur painted the fence")) == pytest.approx(2.0)
    assert g.sequence_score(ids("new york city")) == pytest.approx(3.0)
    assert g.sequence_score(ids("new york")) == pytest.approx(0.5)  # "new york" broken off: only "york" stays
    assert g.sequence_score(ids("new the fence")) == 0.0
    assert g.sequence_score(ids("arthur arthur")) == pytest.approx(4.0)
    assert g.sequence_score(ids("new new york city")) == pytest.approx(3.0)  # the failed start restarts inside


class _Acoustic:
    """A stand-in acoustic model: a fixed log-distribution over the next word at each position (U, V)."""

    full, max_gain, proposes = True, 0.0, True

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table

    def init_state(self, utt):
        return torch.zeros(utt.shape[0])

    def score(self, state, tokens, cands):
        logp = self.table[min(tokens.shape[1], len(self.table) - 1)].expand(tokens.shape[0], -1)
        step = Step(state[:, None] + logp, state + logp[:, SOS_EOS])
        return step if cands is None else step.gather(cands)

    def select(self, state, step, row, col, same_rows):
        return step.totals[row, col]


def test_hotwords_fix_a_near_miss_and_insert_nothing_that_was_not_said():
    """The 'acoustics' hear "arthuse painted" a little better than "arthur painted"; biased towards "arthur" the
    search says "arthur painted"; biased towards "zebra quilt", which the acoustics give no chance, it says
    what it heard."""
    g, tok = _graph([("arthur", 1.5)])
    ids = tok.index
    table = torch.full((3, len(tok.units)), -12.0)
    table[0, ids["arthuse"]], table[0, ids["arthur"]] = -0.5, -0.9
    table[1, ids["painted"]] = -0.1
    table[2, SOS_EOS] = -0.05
    model = _model()
    model.cfg.vocab_size = len(tok.units)
    enc, lens = torch.zeros(1, 10, 32), torch.tensor([10])
    opts = DecodeOptions(beam=4, ctc_weight=0.0)

    def search(graph):
        scorers = {"decoder": (_Acoustic(table), 1.0)}
        if graph is not None:
            scorers["hotwords"] = (HotwordScorer(graph), 1.0)
        return tok.decode(beam_search(model, enc, lens, opts, scorers)[0][0].tokens)

    assert search(None) == "arthuse painted"
    assert search(g) == "arthur painted"
    unsaid, _ = _graph([("zebra quilt", 1.5), ("new york city", 3.0)])
    assert search(unsaid) == "arthuse painted"


def test_hotwords_file_format(tmp_path):
    f = tmp_path / "hot.txt"
    f.write_text("Arthur\n\n# a comment\nnew york city : 2.5\nzebra\t3\n")
    assert read_hotwords(f, 1.5) == [("arthur", 1.5), ("new york city", 2.5), ("zebra", 3.0)]
    f.write_text("new york : -1\n")
    with pytest.raises(UserError, match="bonus must be > 0"):
        read_hotwords(f, 1.5)
    with pytest.raises(UserError, match="not found"):
        read_hotwords(tmp_path / "none.txt", 1.5)


# ---- the registry ---------------------------------------------------------------------------------------------
class _TokenBonus:
    """A toy fused scorer: +1 each time `token` is written."""

    full, max_gain, proposes = True, 1.0, False

    def __init__(self, token: int, vocab_size: int) -> None:
        self.token, self.V = token, vocab_size

    def init_state(self, utt):
        return torch.zeros(utt.shape[0])

    def score(self, state, tokens, cands):
        gain = (torch.arange(self.V) == self.token).float()  # (V,)
        step = Step(state[:, None] + gain, state)
        return step if cands is None else step.gather(cands)

    def select(self, state, step, row, col, same_rows):
        return step.totals[row, col]

    def sequence_scores(self, seqs):
        return [float(s.count(self.token)) for s in seqs]


def test_a_scorer_registered_by_one_line_moves_the_search_and_at_weight_0_changes_nothing(monkeypatch):
    import asr.decoding.fusion

    model, enc, tok = _model(), _enc(), TableTokenizer("char", CHARS)
    token, weight = tok.index["b"], {"now": 0.0}
    fusion = Fusion(tok)
    plain = DecodeOptions(beam=4, ctc_weight=0.3)
    base = decode_encoded(model, enc, ENC_LENS, plain)
    base_nbest = beam_search(model, enc, ENC_LENS, plain, joint_scorers(model, enc, ENC_LENS, 0.3))
    assert sum(h.count(token) for h in base) == 0

    monkeypatch.setitem(asr.decoding.fusion.SCORERS, "bonus",
                        (lambda f, device: _TokenBonus(token, f.tokenizer.vocab_size), lambda o: weight["now"]))
    for search in ("joint", "rescore"):  # weight 0: token for token the search without it
        assert decode_encoded(model, enc, ENC_LENS, replace(plain, search=search), fusion=fusion) == \
            decode_encoded(model, enc, ENC_LENS, replace(plain, search=search))
    fused = {**joint_scorers(model, enc, ENC_LENS, 0.3), **fusion.scorers(plain, enc.device)}
    assert [[(h.tokens, h.score, h.scores) for h in x] for x in beam_search(model, enc, ENC_LENS, plain, fused)] == \
        [[(h.tokens, h.score, h.scores) for h in x] for x in base_nbest]

    weight["now"] = 4.0
    biased = decode_encoded(model, enc, ENC_LENS, plain, fusion=fusion)
    assert all(h.count(token) > 0 for h in biased)  # the search now prefers the token
    assert fusion.describe(plain)["weights"]["bonus"] == 4.0
    assert fusion.sequence_scores([[token, 4, token]], plain) == [8.0]
    fused = {**joint_scorers(model, enc, ENC_LENS, 0.3), **fusion.scorers(plain, enc.device)}
    for hyps in beam_search(model, enc, ENC_LENS, plain, fused):
        for h in hyps:
            assert h.scores["bonus"] == h.tokens.count(token)
