"""One text normaliser, used for training targets AND for scoring, so WER measures what the model learns."""

from __future__ import annotations

import re
import unicodedata

_KEEP = re.compile(r"[^a-z0-9' ]+")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower-case, strip accents, drop punctuation except apostrophes, squeeze spaces.

    >>> normalise_text("  Hello, World!  It's  O.K. ")
    "hello world it's o k"
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower().replace("-", " ")
    text = _KEEP.sub(" ", text)
    text = re.sub(r"(^|\s)'+|'+(\s|$)", " ", text)  # quotes, not apostrophes inside words
    return _SPACES.sub(" ", text).strip()


def cut_text(cut) -> str:
    """The transcript of a lhotse cut: its supervisions' texts joined by spaces (raw, not normalised)."""
    return " ".join(s.text or "" for s in cut.supervisions)
