"""The scoring protocol's arithmetic, without a model: sclite's columns for hand-made pairs (counted by hand),
the WER against jiwer's on the same normalised texts, undecoded utterances as deletions, per-speaker and
per-test-set rows summing to the total, the report's settings header and the guards `--plain-search` removes."""

import jiwer
import pytest

from asr.decoding.options import DecodeOptions
from asr.inference.evaluation import Evaluation, Utterance
from asr.inference.report import Settings, errs_text, report_text, sclite_table, summary
from asr.metrics import Counts, total

# (id, speaker, ref, hyp) and, by hand: the alignment's correct, sub, del, ins
PAIRS = [
    ("a1", "ann", "The cat sat on the mat.", "the cat sit on mat"),  # sat->sit, "the" deleted: C4 S1 D1
    ("a2", "ann", "one two three", "one two three four"),  # "four" inserted: C3 I1
    ("b1", "bob", "a b", "A, b"),  # right after normalisation: C2
    ("b2", "bob", "hello world", ""),  # both deleted: D2
]
BY_HAND = [(4, 1, 1, 0), (3, 0, 0, 1), (2, 0, 0, 0), (0, 0, 2, 0)]


def _evaluation(test_sets=("test",) * 4, errors=(None,) * 4) -> Evaluation:
    return Evaluation.of([Utterance.scored(i, ref, hyp, spk, ts, err)
                          for (i, spk, ref, hyp), ts, err in zip(PAIRS, test_sets, errors)])


def test_sclite_columns_of_hand_counted_pairs():
    ev = _evaluation()
    for u, (c, s, d, i) in zip(ev.utterances, BY_HAND):
        counts = u.counts
        assert (counts.correct, counts.substitutions, counts.deletions, counts.insertions) == (c, s, d, i)
        assert counts.words == c + s + d and counts.sentence_errors == int(s + d + i > 0)
    t = ev.counts
    assert (t.sentences, t.words, t.correct, t.substitutions, t.deletions, t.insertions, t.errors,
            t.sentence_errors) == (4, 13, 9, 1, 3, 1, 5, 3)
    pct = t.percentages()  # Corr..Err of the 13 reference words, S.Err of the 4 sentences
    expected = {"Corr": 900 / 13, "Sub": 100 / 13, "Del": 300 / 13, "Ins": 100 / 13, "Err": 500 / 13, "S.Err": 75.0}
    assert pct == pytest.approx(expected)
    assert sclite_table("set", [("test", t)])[1].split() == ["test", "4", "13", "69.2", "7.7", "23.1", "7.7", "38.5",
                                                            "75.0"]


def test_wer_is_jiwers_on_the_same_normalised_texts():
    ev = _evaluation()
    assert ev.counts.wer == pytest.approx(jiwer.wer(ev.refs, ev.hyps))
    assert ev.report.wer == pytest.approx(jiwer.wer(ev.refs, ev.hyps))
    r = ev.report
    assert (r.substitutions, r.deletions, r.insertions, r.words) == (1, 3, 1, 13)


def test_an_undecoded_utterance_counts_as_all_its_words_deleted():
    ev = _evaluation(errors=(None, "a2: cannot load audio (bad header)", None, None))
    a2 = ev.utterances[1]
    assert a2.hyp == "" and a2.counts == Counts(1, 3, 0, 0, 3, 0, 1)  # its hypothesis is never scored
    assert ev.report.utterances == 4 and ev.report.words == 13 and ev.counts.deletions == 1 + 3 + 2
    assert [u.id for u in ev.failures] == ["a2"]
    text = report_text(ev, Settings.of(DecodeOptions(), None))
    assert "not decoded, scored as all words deleted: 1 of 4 utterances, 3 reference words" in text
    assert "a2: cannot load audio (bad header)" in text
    s = summary(ev, Settings.of(DecodeOptions(), None))
    assert s["failed"] == 1 and s["not_decoded"] == [{"id": "a2", "test_set": "test", "words": 3,
                                                      "error": "a2: cannot load audio (bad header)"}]


def test_speaker_and_test_set_rows_sum_to_the_total():
    ev = _evaluation(test_sets=("clean", "other", "clean", "other"))
    speakers, sets = ev.counts_by(lambda u: u.speaker), ev.counts_by(lambda u: u.test_set)
    assert set(speakers) == {"ann", "bob"} and list(sets) == ["clean", "other"]
    assert total(speakers.values()) == total(sets.values()) == ev.counts
    assert speakers["bob"] == Counts(2, 4, 2, 0, 2, 0, 1)
    s = summary(ev, Settings.of(DecodeOptions(), None))
    assert s["sclite"]["columns"] == ["Snt", "Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err"]
    assert sum(row["Wrd"] for row in s["sclite"]["speakers"]) == s["sclite"]["total"]["Wrd"] == 13
    assert s["sclite"]["total"]["Err"] == round(500 / 13, 2) and s["wer"] == pytest.approx(5 / 13)
    text = report_text(ev, Settings.of(DecodeOptions(), None))
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.split()}
    assert rows["total"][:2] == ["4", "13"] and rows["clean"][:2] == ["2", "8"] and rows["bob"][:2] == ["2", "4"]


def test_confusions_in_the_report_the_json_and_the_errs_file():
    ev = _evaluation()
    s = summary(ev, Settings.of(DecodeOptions(), None))
    assert s["confusions"]["substitutions"] == [{"ref": "sat", "hyp": "sit", "count": 1}]
    assert {"ref": "the", "count": 1} in s["confusions"]["deletions"]
    assert s["confusions"]["insertions"] == [{"hyp": "four", "count": 1}]
    text = report_text(ev, Settings.of(DecodeOptions(), None))
    assert "count  substitution (ref -> hyp)" in text and "1  sat -> sit" in text
    errs = errs_text(ev)
    assert "a1:\tthe cat (sat->sit) on (the->*) mat" in errs and "1   sat -> sit" in errs


def test_the_header_names_the_settings_and_plain_search_drops_every_guard():
    d = DecodeOptions()
    assert d.guards == ("repetition stop (8 repeats)", "loop guard (CTC length tolerance 0.25)", "search-error check")
    plain = d.plain()
    assert plain.guards == () and not plain.search_error_check and plain.ctc_length_tolerance is None
    assert (plain.beam, plain.ctc_weight, plain.search) == (d.beam, d.ctc_weight, d.search)
    header = "\n".join(Settings.of(DecodeOptions(beam=8, ctc_weight=0.5), None).header())
    assert "joint CTC/attention beam search, beam 8; weights decoder 0.5, ctc 0.5" in header
    assert "search-error check" in header and "every cut decoded whole" in header
    s = Settings.of(plain, None, max_segment_s=20)
    assert "none: plain search (ESPnet's joint CTC/attention beam search)" in "\n".join(s.header())
    assert "at most 20 s" in "\n".join(s.header())
    assert s.tag() == "beam_4_ctc_0.3_plain_seg20" and Settings.of(d, None).tag() == "beam_4_ctc_0.3"
    assert s.to_dict()["plain_search"] and s.to_dict()["max_segment_s"] == 20
