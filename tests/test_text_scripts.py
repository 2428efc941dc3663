"""`normalise_text` in many scripts: letters, marks and numbers kept, casefolded, NFKC; punctuation of every script
dropped; unspaced scripts split into characters on request. The same text for training targets and scoring."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.metrics import error_report
from asr.text import normalise_text
from asr.tokenizer import train_tokenizer

ENGLISH = [
    ("  Hello, World!  It's  O.K. ", "hello world it's o k"),
    ("'quoted' twenty-one", "quoted twenty one"),
    ("it’s ‘quoted’, don’t", "it's quoted don't"),  # the typeset apostrophe is the apostrophe
    ("a'.'b rock 'n' roll", "a b rock n roll"),  # quotes at a word's edge go, even two in a row
    ("3.5 km, 1,000 ½ x²", "3 5 km 1 000 1 2 x2"),  # numbers as before: digits kept, separators dropped
    ("ﬁne ＦＵＬＬ－ｗｉｄｔｈ", "fine full width"),  # compatibility forms are their plain letters
]

SCRIPTS = [  # (language, text, normalised)
    ("fr", "Où est l’École ? Ça va, garçon !", "où est l'école ça va garçon"),
    ("de", "Grüße aus der STRASSE, Straße!", "grüsse aus der strasse strasse"),  # casefold: ß is ss
    ("tr", "İSTANBUL'da IŞIK", "istanbul'da işik"),  # İ is i; I is i too (casefold knows no language)
    ("ru", "Съешь же ещё этих мягких булок, да выпей чаю.", "съешь же ещё этих мягких булок да выпей чаю"),
    ("uk", "М’ята — це ЇЖАК?", "м'ята це їжак"),
    ("hi", "नमस्ते, दुनिया! क्या हाल है।", "नमस्ते दुनिया क्या हाल है"),  # matras and viramas stay attached
    ("el", "ΟΔΟΣ, οδός; Ὀδυσσεύς", "οδοσ οδόσ ὀδυσσεύσ"),  # final sigma folds to σ
    ("ar", "مرحبا بالعالم، كيف الحال؟ ﻻ", "مرحبا بالعالم كيف الحال لا"),  # presentation form ﻻ is ل + ا
    ("he", "שָׁלוֹם, עוֹלָם!", "שָׁלוֹם עוֹלָם"),
    ("fa", "می\u200cخواهم.", "میخواهم"),  # ZWNJ is invisible: deleted, not a space
    ("zh", "你好，世界。今天好吗？", "你好 世界 今天好吗"),
]


@pytest.mark.parametrize("text,expected", ENGLISH)
def test_english_is_as_before(text, expected):
    assert normalise_text(text) == expected


@pytest.mark.parametrize("language,text,expected", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_every_script_keeps_its_letters(language, text, expected):
    got = normalise_text(text)
    assert got == expected
    assert unicodedata.is_normalized("NFKC", got)


def test_devanagari_marks_stay_with_their_letters():
    word = normalise_text("क़िला स्त्री")
    # nukta, matras (Mn ि, Mc ा) and viramas all kept, each after its consonant; NFKC writes क़ as क + ़
    assert word == "क\u093c\u093fला स\u094dत\u094dर\u0940"
    assert [unicodedata.category(c) for c in "\u093c\u093f\u093e\u094d"] == ["Mn", "Mc", "Mc", "Mn"]


def test_decomposed_and_composed_input_agree():
    assert normalise_text("E\u0301cole") == normalise_text("École") == "\u00e9cole"
    assert normalise_text("カ\u3099") == normalise_text("ｶﾞ") == "ガ"  # half-width kana, voiced mark


@pytest.mark.parametrize("text,expected", [
    ("你好，世界。", "你 好 世 界"),
    ("東京タワーは３３３ｍです！iPhoneを買った", "東 京 タ ワ ー は 333m で す iphone を 買 っ た"),
    ("สวัสดีครับ ที่นี่", "ส วั ส ดี ค รั บ ที่ นี่"),  # Thai vowels and tones stay on their consonant
    ("Hello 世界, привет", "hello 世 界 привет"),  # spaced scripts keep their words
])
def test_split_chars_makes_each_unspaced_character_a_word(text, expected):
    assert normalise_text(text, split_chars=True) == expected
    assert normalise_text(expected) == expected  # what the recipe writes passes the default unchanged


def test_scoring_split_text_counts_characters():
    ref = normalise_text("今天天气很好。", split_chars=True)
    hyp = normalise_text("今天天汽很好", split_chars=True)
    assert error_report([ref], [hyp]).wer == pytest.approx(1 / 6)  # one character in six


def test_char_tokenizer_round_trips_every_script():
    texts = [t for _, t, _ in SCRIPTS]
    tok = train_tokenizer(texts, "char")
    for text in texts:
        assert tok.decode(tok.encode(text)) == normalise_text(text)


SAMPLE = st.text(st.sampled_from(list("aAeEiİıIßΣσς'’ʼ -.,。你好ที่เกम्िाक़\u0301\u0307\u0345\u200c\u3099かｶﾞ²ﬁ١אسلام\u064b")))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), SAMPLE), st.booleans())
def test_normalising_twice_changes_nothing(text, split_chars):
    once = normalise_text(text, split_chars)
    assert normalise_text(once, split_chars) == once
    assert normalise_text(once) == once  # split text is a fixed point of the plain normaliser too
    assert "  " not in once and once == once.strip()
    assert all(c == " " or c == "'" or unicodedata.category(c)[0] in "LMN" for c in once)
