"""Errors a user can fix. The CLI prints their message as one line and exits non-zero, without a traceback."""

from __future__ import annotations

import re


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and what to do."""


# "lhotse.audio.LibsndfileError: ", "Exception #0 (<class '...'>): ", "<class 'x.Y'>": library internals.
_CLASS_NAMES = re.compile(
    r"Exception #\d+ \([^)]*\):?\s*|<class '[^']*'>|\b(?:\w+\.)*[A-Z][A-Za-z]+(?:Error|Exception)\b:?\s*"
)


def brief(e: BaseException, limit: int = 160) -> str:
    """A library exception as a short clause for a user-facing line: its first line, without exception class
    names, tracebacks or chained "Exception #0 (<class ...>)" prefixes. Say what failed before it, e.g.
    f"{path}: cannot read audio ({brief(e)})"."""
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
    text = _CLASS_NAMES.sub("", text).strip(" :;,()")
    if not text:
        text = "unreadable"
    return text if len(text) <= limit else text[: limit - 3] + "..."
