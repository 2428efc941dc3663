"""BLEU and chrF through sacrebleu: perfect output scores 100, reordering and wrong words cost, and the numbers
are sacrebleu's own (its corpus BLEU, its signature)."""

import pytest
import sacrebleu

from asr.bleu import translation_scores

REFS = ["on monday my sister bought the red table", "because the teacher saw the old dog",
        "my father has sold the small car"]


def test_perfect_output_scores_100():
    s = translation_scores(REFS, REFS)
    assert s.bleu == 100.0 and s.chrf == 100.0 and s.utterances == 3
    assert "tok:13a" in s.signature and "smooth:exp" in s.signature


def test_reordering_and_substitutions_cost_and_match_sacrebleu():
    hyps = ["my sister bought on monday the red table",  # word order as German would have it
            "because the teacher the old dog saw",
            "my father has sold the big car"]
    s = translation_scores(REFS, hyps)
    assert 0 < s.bleu < 100 and 0 < s.chrf < 100
    assert s.bleu == pytest.approx(sacrebleu.corpus_bleu(hyps, [REFS]).score, abs=0.01)
    assert s.chrf == pytest.approx(sacrebleu.corpus_chrf(hyps, [REFS]).score, abs=0.01)
    worse = translation_scores(REFS, ["table red the", "dog old", "car"])
    assert worse.bleu < s.bleu and worse.chrf < s.chrf


def test_empty_hypotheses_score_zero_and_lengths_must_match():
    assert translation_scores(REFS, ["", "", ""]).bleu == 0.0
    with pytest.raises(ValueError):
        translation_scores(REFS, REFS[:2])
