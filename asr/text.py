"""One text normaliser, used for training targets AND for scoring, so WER measures what the model learns.

Text in any script keeps its letters, combining marks and numbers (Unicode categories L*, M*, N*), casefolded
and in NFKC. Everything else (punctuation of every script, symbols, the hyphen) becomes a space; invisible
format characters (ZWJ/ZWNJ, soft hyphen, direction marks) are deleted; apostrophes stay inside words only.
Scripts written without spaces (Chinese, Japanese, Thai, ...) can be split into one word per character
(`split_chars`): what the Common Voice recipe writes for those languages, so WER there is a character error rate.
"""

from __future__ import annotations

import re
import unicodedata

from asr.errors import UserError

# NFKC, not NFC: compatibility forms are spelling variants a recogniser cannot hear apart (full-width Ａ and ５ in
# CJK text, Arabic presentation forms, the ligature ﬁ, superscript ²), and composed forms keep one code point per
# accented letter where Unicode has one (é, not e + U+0301), so a character tokenizer sees one unit. Devanagari
# matras and viramas, Hebrew points and Arabic harakat have no composed forms: they stay as marks after their
# letter. NFKC runs again after casefolding, whose output ('ǰ' -> j + U+030C) need not be normalised.
_FORM = "NFKC"
# ’ and ʼ are the apostrophe as typeset. 'İ' is written only in Turkic languages, where its lower case is 'i'
# (casefold would write 'i̇', an i with a combining dot above); their 'I' still becomes 'i', not 'ı': casefold
# knows no language.
_BEFORE_CASEFOLD = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u0130": "i"})
_QUOTES = re.compile(r"(?<!\S)'+|'+(?!\S)")  # quotes, not apostrophes inside words ("a' 'b" too)
_SPACES = re.compile(r"\s+")
# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, CJK radicals and ideographic marks
# (々 〆 〇, Hangzhou numerals, kana repeat marks), kana, CJK ideographs and their extensions.
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029"
                       "\u3031-\u3035\u3038-\u303c\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
                       "\uf900-\ufaff\U00020000-\U0003ffff]")


def normalise_text(text: str, split_chars: bool = False) -> str:
    """Casefold, NFKC, keep letters, marks, numbers and inner apostrophes of any script, squeeze spaces.

    `split_chars`: each character of a script written without spaces, with its marks, becomes a word.

    >>> normalise_text("  Hello, World!  It's  O.K. ")
    "hello world it's o k"
    >>> normalise_text("Привет, мир! Ελλάδα; 你好，世界。", split_chars=True)
    'привет мир ελλάδα 你 好 世 界'
    """
    text = unicodedata.normalize(_FORM, text).translate(_BEFORE_CASEFOLD).casefold()
    text = unicodedata.normalize(_FORM, "".join(c for c in text if unicodedata.category(c) != "Cf"))
    text = "".join(c if c == "'" or unicodedata.category(c)[0] in "LMN" else " " for c in text)
    text = _QUOTES.sub(" ", text)
    if split_chars:  # a cut can leave an apostrophe at a word's edge: "買'x" -> "買 'x"
        text = _QUOTES.sub(" ", " ".join(unit for word in text.split() for unit in _characters(word)))
    return _SPACES.sub(" ", text).strip()


def _characters(word: str) -> list[str]:
    """`word` cut before each character of an unspaced script and after its marks; other runs stay whole."""
    units: list[str] = []
    for c in word:
        if units and (_is_mark(c) or not (_unspaced(c) or _unspaced(units[-1][0]))):
            units[-1] += c
        else:
            units.append(c)
    return units


def _is_mark(c: str) -> bool:
    return unicodedata.category(c)[0] == "M"


def _unspaced(c: str) -> bool:
    """A letter or number of an unspaced script (a mark of one, left at a word's start, is not a character)."""
    return bool(_UNSPACED.match(c)) and not _is_mark(c)


def cut_text(cut) -> str:
    """The transcript of a lhotse cut: its supervisions' texts joined by spaces (raw, not normalised)."""
    return " ".join(s.text or "" for s in cut.supervisions)


def cut_translation(cut, language: str) -> str:
    """The translation into `language` of a lhotse cut (its supervisions' `custom["translated_text"][language]`,
    as lhotse's speech-translation recipes store it), joined by spaces, raw. Raises UserError naming the cut when a
    supervision has none."""
    texts = []
    for s in cut.supervisions:
        translated = (s.custom or {}).get("translated_text") or {}
        if language not in translated:
            have = ", ".join(sorted(translated)) or "none"
            raise UserError(f"cut {cut.id} has no {language} translation (its translated_text: {have}); a translation "
                            "model trains on a corpus whose supervisions carry one (asr prepare tts-translation, mustc)")
        texts.append(translated[language] or "")
    return " ".join(texts)
