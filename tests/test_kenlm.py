"""Word n-grams on KenLM (asr.lm.kenlm_lm) score as the dict implementation (asr.lm.arpa) does, word for word,
for known and unknown words, on ARPA and KenLM binary files; and the beam search finds the same hypotheses with
either backend. KenLM stores float32, hence the tolerance."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from asr.decoding import DecodeOptions, beam_search
from asr.decoding.fusion import Fusion
from asr.decoding.scorers import joint_scorers
from asr.errors import UserError
from asr.lm.arpa import ArpaLM, read_arpa
from asr.lm.ngram import WordNgram, is_kenlm_binary, load_ngram
from asr.model import ASRModel, ModelConfig
from asr.tokenizer import SOS_EOS, TableTokenizer
from test_fusion import ARPA as FUSION_ARPA

pytest.importorskip("kenlm")
from asr.lm.kenlm_lm import KenLM  # noqa: E402

TOL = 1e-4  # natural log; KenLM's float32 log10s
CHARS = ["|", "a", "b", "c", "d", "e", "f", "g", "h"]  # with the 3 specials: V = 12
WORDS = ["ab", "cd", "bad", "face", "cab", "dead", "fed", "hag", "egg", "a"]


def random_arpa(seed: int, unk: bool = True, words: list[str] = WORDS) -> str:
    """A valid 3-gram ARPA with backoffs: every listed n-gram's prefix and suffix listed too (as Kneser-Ney gives),
    some contexts with a backoff weight and some without; <unk> inside bigrams when `unk`, so that KenLM's own
    rule for unknown words (P(<unk> | context)) would score otherwise than ours."""
    rng = random.Random(seed)
    vocab = ["<s>", "</s>", *words] + (["<unk>"] if unk else [])
    uni = {(w,): -99.0 if w == "<s>" else round(rng.uniform(-2.5, -0.5), 4) for w in vocab}
    nexts = [w for w in vocab if w != "<s>"]
    bi = {(u, w): round(rng.uniform(-1.5, -0.1), 4) for u in vocab if u != "</s>" for w in nexts
          if rng.random() < 0.35}
    tri = {(u, v, w): round(rng.uniform(-1.0, -0.05), 4) for (u, v) in bi if v != "</s>" for w in nexts
           if (v, w) in bi and rng.random() < 0.4}
    contexts = {g[:-1] for g in [*bi, *tri]}
    backoff = {g: round(rng.uniform(-0.8, -0.05), 4) for g in [*uni, *bi] if g in contexts or rng.random() < 0.2}
    lines = ["", "\\data\\", f"ngram 1={len(uni)}", f"ngram 2={len(bi)}", f"ngram 3={len(tri)}", ""]
    for n, grams in ((1, uni), (2, bi), (3, tri)):
        lines.append(f"\\{n}-grams:")
        for g, p in grams.items():
            lines.append("\t".join([str(p), " ".join(g)] + ([str(backoff[g])] if g in backoff else [])))
        lines.append("")
    return "\n".join([*lines, "\\end\\", ""])


def _sentences(seed: int, n: int = 300) -> list[list[str]]:
    rng = random.Random(seed)
    pool = WORDS + ["<unk>", "zz", "dig", "hh"]  # the last three are in no model: unknown words
    return [[rng.choice(pool) for _ in range(rng.randint(0, 8))] for _ in range(n)]


def assert_same_scores(ref: ArpaLM, lm: WordNgram, sentences: list[list[str]]) -> None:
    """Every word's score, every </s>, every sentence: the dict model's and `lm`'s, each along its own states."""
    assert lm.order == ref.order
    for words in sentences:
        rs, s = ref.start(), lm.start()
        for w in words:
            assert ref.final(rs) == pytest.approx(lm.final(s), abs=TOL), (words, w)
            (rp, rs), (p, s) = ref.score(rs, w), lm.score(s, w)
            assert p == pytest.approx(rp, abs=TOL), (words, w)
        assert lm.sentence_log_prob(words) == pytest.approx(ref.sentence_log_prob(words), abs=TOL), words


@pytest.mark.parametrize("unk", [True, False])
def test_kenlm_scores_equal_the_dicts_on_a_3gram_with_backoffs(tmp_path, unk):
    path = tmp_path / "lm.arpa"
    path.write_text(random_arpa(0, unk))
    ref, lm = read_arpa(path), KenLM(path)
    assert lm.has_unk == unk
    assert_same_scores(ref, lm, _sentences(1))
    state = lm.start()
    assert state == lm.start() and hash(state) == hash(lm.start())  # by value: the search carries and compares them
    assert lm.score(state, "zz")[0] == pytest.approx(ref.unk * 2.302585, abs=TOL)


def test_kenlm_scores_equal_the_dicts_on_the_fusion_tests_arpa_plain_and_gzip(tmp_path):
    for name in ("lm.arpa", "lm.arpa.gz"):
        path = tmp_path / name
        (gzip.open(path, "wt") if name.endswith(".gz") else path.open("w")).write(FUSION_ARPA)
        ref = read_arpa(path)
        assert isinstance(load_ngram(path), KenLM) and isinstance(load_ngram(path, backend="dict"), ArpaLM)
        assert_same_scores(ref, load_ngram(path), [["ab", "cd"], ["ab", "ab", "zz", "cd"], ["cd", "<unk>", "ab"]])


def test_kenlm_scores_equal_the_dicts_on_an_irstlm_3gram(tmp_path):
    """The kind of file `asr build-ngram` writes (IRSTLM's smoothing, its own <unk>), as tests/test_lm_cli.py does."""
    if shutil.which("build-lm.sh") is None and not Path("/usr/lib/irstlm/bin/build-lm.sh").exists():
        pytest.skip("IRSTLM is not installed (apt-get install irstlm)")
    from asr.lm.irstlm import build_arpa

    rng = random.Random(0)
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]
    text = [" ".join(rng.choice(digits) for _ in range(rng.randint(1, 6))) for _ in range(600)]
    out, _ = build_arpa(text, tmp_path / "3gram.arpa.gz", 3)
    ref = read_arpa(out)
    rng = random.Random(1)
    sentences = [[rng.choice(digits + ["zebra"]) for _ in range(rng.randint(0, 8))] for _ in range(300)]
    assert_same_scores(ref, load_ngram(out), sentences)


def _build_binary() -> str | None:
    return os.environ.get("KENLM_BUILD_BINARY") or shutil.which("build_binary")


@pytest.mark.skipif(_build_binary() is None, reason="KenLM's build_binary is not on PATH (or KENLM_BUILD_BINARY)")
def test_a_kenlm_binary_file_scores_as_its_arpa_file(tmp_path):
    arpa, binary = tmp_path / "lm.arpa", tmp_path / "lm.bin"
    arpa.write_text(random_arpa(3))
    subprocess.run([_build_binary(), str(arpa), str(binary)], check=True, capture_output=True)
    assert is_kenlm_binary(binary) and not is_kenlm_binary(arpa)
    assert isinstance(load_ngram(binary), KenLM)
    assert_same_scores(read_arpa(arpa), load_ngram(binary), _sentences(4))
    with pytest.raises(UserError, match="only KenLM reads"):
        load_ngram(binary, backend="dict")


def test_load_ngram_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_ngram(tmp_path / "missing.arpa")
    bad = tmp_path / "bad.arpa"
    bad.write_text("hello world\n")
    with pytest.raises(UserError, match="cannot read n-gram file .*bad.arpa"):
        load_ngram(bad)
    with pytest.raises(UserError, match="unknown n-gram backend"):
        load_ngram(bad, backend="srilm")


def _model(seed: int = 0) -> ASRModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=12, d_model=32, heads=2, enc_layers=1, dec_layers=2, ffn=64, dropout=0.0,
                      subsampling=4, subsampling_channels=8)
    model = ASRModel(cfg).eval()
    with torch.no_grad():
        model.decoder.out.bias[SOS_EOS] -= 1.0
    return model


def test_the_beam_search_finds_the_same_hypotheses_with_either_backend(tmp_path):
    path = tmp_path / "lm.arpa"
    path.write_text(random_arpa(5))
    model, tok = _model(), TableTokenizer("char", CHARS)
    torch.manual_seed(1)
    enc_lens = torch.tensor([20, 13, 7])
    enc = torch.randn(3, 20, 32)  # (B, T', D)
    results = {}
    for weight in (0.0, 2.0):
        opts = DecodeOptions(beam=4, ctc_weight=0.3, ngram_weight=weight, max_repeats=0)
        for backend in ("dict", "kenlm"):
            fusion = Fusion(tok, ngram=load_ngram(path, backend))
            scorers = {**joint_scorers(model, enc, enc_lens, 0.3), **fusion.scorers(opts, enc.device)}
            results[weight, backend] = [[(h.tokens, h.score) for h in hyps]
                                        for hyps in beam_search(model, enc, enc_lens, opts, scorers)]
    for weight in (0.0, 2.0):
        dicts, kenlm = results[weight, "dict"], results[weight, "kenlm"]
        assert [[t for t, _ in hyps] for hyps in kenlm] == [[t for t, _ in hyps] for hyps in dicts]
        scores = [s for hyps in dicts for _, s in hyps]
        assert [s for hyps in kenlm for _, s in hyps] == pytest.approx(scores, abs=1e-3)
    assert results[2.0, "dict"] != results[0.0, "dict"]  # the n-gram moves the search: the comparison means something
