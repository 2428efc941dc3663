from asr.metrics import confusions, error_report


def test_error_report_counts():
    r = error_report(["One two three", "four five"], ["one too three extra", "four five"])
    assert (r.substitutions, r.deletions, r.insertions, r.words) == (1, 0, 1, 5)
    assert abs(r.wer - 2 / 5) < 1e-9 and r.ser == 0.5 and r.utterances == 2
    assert 0 < r.cer < r.wer


def test_empty_reference_counts_insertions():
    r = error_report(["", "a b"], ["x", "a b"])
    assert r.insertions == 1 and r.words == 2 and abs(r.wer - 0.5) < 1e-9


def test_confusions():
    assert confusions(["one two", "one"], ["one too", "won"])[0][2] == 1
    assert ("two", "too", 1) in confusions(["one two"], ["one too"])
