"""Manifests as JSON lines, read line by line: a bad line is reported with its number, not fatal to the rest.

Shared by both manifest kinds (asr.data.manifests reads lhotse cuts, asr.data.nemo NeMo lines) and by the
validator (asr.data.validate), so none of them imports another for it.
"""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from asr.errors import UserError, brief


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number from 1, entry, None) per non-blank line, or (line number, None, error) for a bad one.

    Bad lines are yielded rather than raised, so a validator can report them all with their line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"manifest not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as e:
                    yield lineno, None, f"not valid JSON ({e.msg})"
                    continue
                if not isinstance(entry, dict):
                    yield lineno, None, "not a JSON object"
                    continue
                yield lineno, entry, None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:  # unreadable, truncated .gz, not UTF-8
        raise UserError(f"cannot read {path}: {brief(e)}; is it a (gzipped) UTF-8 JSON-lines file?") from None


def read_lines(path: Path, read_line: Callable[[int, dict | None, str | None], object], what: str,
               lines: Iterable[tuple[int, dict | None, str | None]] | None = None) -> list:
    """`read_line(lineno, entry, error)` over the manifest's lines: a line it refuses (UserError) is skipped with
    one warning on stderr, so one broken line doesn't stop the rest; UserError when no line is usable."""
    items, problems = [], []
    for lineno, entry, error in iter_jsonl(path) if lines is None else lines:
        try:
            items.append(read_line(lineno, entry, error))
        except UserError as e:
            problems.append(str(e))
            print(f"warning: skipping {e}", file=sys.stderr)
    if not items:
        raise UserError(problems[0] if problems else f"{path} holds no {what}")
    return items


def resolve_audio_path(audio_filepath: str, manifest_dir: Path) -> Path:
    """An absolute path: relative ones are relative to the manifest's folder, not to where the command runs."""
    try:
        p = Path(audio_filepath).expanduser()
    except RuntimeError:  # "~user" of a user this machine does not have: the path as written, then not found
        p = Path(audio_filepath)
    return p if p.is_absolute() else (manifest_dir / p).absolute()
