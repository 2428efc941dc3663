"""Words outside a tokenizer's vocabulary are counted in one line (what `asr evaluate` can print about its
references: a model can't write them, so each is an error whatever it hears)."""

from asr.tokenizer import train_tokenizer, unknown_words_warning


def test_one_line_counts_unknown_reference_words():
    tok = train_tokenizer(["one two three"], "word")
    refs = ["one two", "the weather, two", "Weather nice"]
    msg = unknown_words_warning(tok, refs)
    assert msg == ("warning: 4 of 7 reference words (3 distinct: 'weather', 'the', 'nice') are outside the "
                   "model's vocabulary (it can only write them as <unk>), so each counts as an error")
    assert "\n" not in msg
    assert unknown_words_warning(tok, ["one two", "Three!"]) is None


def test_a_char_tokenizer_only_misses_words_with_unknown_characters():
    tok = train_tokenizer(["one two three"], "char")
    assert unknown_words_warning(tok, ["tone", "hot tee"]) is None  # new words, known letters
    assert "1 distinct: 'weather'" in unknown_words_warning(tok, ["weather two"])
