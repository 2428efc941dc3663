import pytest

from asr.text import normalise_text
from asr.tokenizer import BLANK, SOS_EOS, UNK, tokenizer_from_state, train_tokenizer

TEXTS = ["the cat sat on the mat", "a dog ate the bone", "it's seven o'clock", "the cat and the dog"] * 5


def test_normalise_text():
    assert normalise_text("  Hello, World!  It's  O.K. ") == "hello world it's o k"
    assert normalise_text("Café — 'quoted' twenty-one") == "café quoted twenty one"  # accents are letters


@pytest.mark.parametrize("kind,size", [("char", 0), ("word", 0), ("bpe", 30), ("unigram", 30)])
def test_round_trip_and_state(kind, size):
    tok = train_tokenizer(TEXTS, kind, size)
    for text in ["the cat sat on the mat", "it's seven o'clock"]:
        ids = tok.encode(text)
        assert ids and min(ids) > SOS_EOS, "units never collide with <blank>/<sos/eos>"
        assert tok.decode(ids) == text
    again = tokenizer_from_state(tok.state())
    assert again.encode("a dog ate") == tok.encode("a dog ate")
    assert again.vocab_size == tok.vocab_size
    assert tok.decode([BLANK, SOS_EOS] + tok.encode("cat")) == "cat"


def test_unknown_units_map_to_unk():
    tok = train_tokenizer(["one two"], "word")
    assert tok.encode("one zebra") == [tok.encode("one")[0], UNK]
