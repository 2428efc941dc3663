"""Transcripts as text: txt, json, srt, vtt and tsv (the formats Whisper writes, with the same layouts).

txt   one line per segment.
json  {"text", "segments": [{"start", "end", "text", "words": [{"word", "start", "end", "confidence"}]}],
       "duration", "source", "model", "no_speech"}; times in seconds; "no_speech" is true when the text is empty
       because nothing was recognised as speech.
srt   numbered cues `HH:MM:SS,mmm --> HH:MM:SS,mmm`; with word times, a cue holds at most `max_words` words and
      spans exactly them, so subtitles follow the speech.
vtt   WEBVTT cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`, cut as in srt, with each later word's start as an inline
      `<HH:MM:SS.mmm>` timestamp (karaoke-style highlighting in players).
tsv   Whisper's columns `start`, `end` (integer milliseconds) and `text`: one row per word with a fourth column
      `confidence` when word times exist, else one row per segment.
"""

from __future__ import annotations

import json
from pathlib import Path

from asr.errors import UserError
from asr.inference.results import SegmentResult, Transcript, Word

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
MAX_WORDS = 8  # per subtitle cue


def render(t: Transcript, fmt: str, max_words: int = MAX_WORDS) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return {"txt": _txt, "json": _json, "srt": _srt, "vtt": _vtt, "tsv": _tsv}[fmt](t, max_words)


def timestamp(seconds: float, sep: str = ".") -> str:
    """1234.5678 -> '00:20:34.568' (sep ',' for srt)."""
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues(t: Transcript, max_words: int) -> list[tuple[float, float, list[Word] | None, str]]:
    """(start, end, words or None, text) per subtitle cue: segments, split into runs of max_words words."""
    out = []
    for seg in t.segments:
        if not seg.words:
            out.append((seg.start, seg.end, None, seg.text))
            continue
        for i in range(0, len(seg.words), max_words):
            chunk = seg.words[i : i + max_words]
            out.append((chunk[0].start, chunk[-1].end, chunk, " ".join(w.word for w in chunk)))
    return out


def _txt(t: Transcript, _: int) -> str:
    return "".join(seg.text + "\n" for seg in t.segments)


def _json(t: Transcript, _: int) -> str:
    return json.dumps(t.to_dict(), ensure_ascii=False, indent=2) + "\n"


def _srt(t: Transcript, max_words: int) -> str:
    blocks = []
    for i, (start, end, _, text) in enumerate(cues(t, max_words), start=1):
        blocks.append(f"{i}\n{timestamp(start, ',')} --> {timestamp(end, ',')}\n{text}\n")
    return "\n".join(blocks)


def _vtt(t: Transcript, max_words: int) -> str:
    blocks = ["WEBVTT\n"]
    for start, end, words, text in cues(t, max_words):
        if words:
            text = " ".join(w.word if k == 0 else f"<{timestamp(w.start)}>{w.word}" for k, w in enumerate(words))
        blocks.append(f"{timestamp(start)} --> {timestamp(end)}\n{text}\n")
    return "\n".join(blocks)


def _tsv(t: Transcript, _: int) -> str:
    ms = lambda s: str(round(s * 1000))  # noqa: E731
    words = [w for seg in t.segments for w in seg.words]
    if words:
        rows = ["start\tend\ttext\tconfidence"]
        rows += [f"{ms(w.start)}\t{ms(w.end)}\t{w.word}\t{w.confidence:.3f}" for w in words]
    else:
        rows = ["start\tend\ttext"] + [f"{ms(s.start)}\t{ms(s.end)}\t{_clean(s)}" for s in t.segments]
    return "\n".join(rows) + "\n"


def _clean(seg: SegmentResult) -> str:
    return seg.text.replace("\t", " ").replace("\n", " ")


class OutputNamer:
    """Where `--output-dir` writes each input's transcripts: `<dir>/<path below its root>/<stem>.<format>`,
    mirroring the folders below the folder (or glob root) the input was found under, so `in/a/x.wav` and
    `in/b/x.wav` from `in/` write `out/a/x.txt` and `out/b/x.txt`.

    Inputs that would write the same file (`speech.aiff` and `speech.caf` side by side; `a/x.wav` and `b/x.wav`
    given one by one) are all transcribed, and none of their outputs is written over by another's: each keeps its
    extension (`speech.aiff.txt`, `speech.caf.txt`), and `notes` says so in one line per such group. Where even
    that name is taken (by another input's own name: `speech.aiff.wav` writes `speech.aiff.txt`; or by the same
    name from another folder), the input gets the first free of `<name>.2`, `<name>.3`, ..., in the order the
    inputs were given. Names are compared ignoring case, as macOS's and Windows' file systems do. An input whose
    name collides with no other's is never renamed, whatever else is in the run."""

    def __init__(self, out_dir: str | Path, inputs: list[tuple[str, Path]]) -> None:
        """`inputs`: (source name, path below its root) per input, as `AudioInput.relative` gives it."""
        self.dir = Path(out_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise UserError(f"--output-dir {self.dir} is an existing file, not a folder; pass a folder path "
                            f"(it is created if missing)")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--output-dir {self.dir}: cannot create the folder ({e.strerror or e})") from None
        plain = {source: self.dir / relative.parent / relative.stem for source, relative in inputs}
        groups: dict[str, list[str]] = {}  # plain stem's key -> the sources that would write it
        for source, stem in plain.items():
            groups.setdefault(_key(stem), []).append(source)
        taken = set(groups)  # a plain stem is only ever its lone owner's: never another input's fallback
        self.stems: dict[str, Path] = {}  # source -> output path without the format's extension
        for source, relative in inputs:
            alone = len(groups[_key(plain[source])]) == 1
            self.stems[source] = plain[source] if alone else _first_free(self.dir / relative, taken)
        self.notes = [  # one line per group of inputs that keep their extension
            f"{_and(group)} would {'both' if len(group) == 2 else 'all'} write {plain[group[0]]}.<format>; each "
            f"keeps its extension instead: {_and([f'{self.stems[s]}.<format>' for s in group])}"
            for group in groups.values() if len(group) > 1]

    def path(self, source: str, fmt: str) -> Path:
        return self.stems[source].with_name(f"{self.stems[source].name}.{fmt}")

    def write(self, source: str, fmt: str, text: str) -> Path:
        path = self.path(source, fmt)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot write {path}: {e.strerror or e}; check --output-dir") from None
        return path


def _key(stem: Path) -> str:
    return str(stem).casefold()


def _first_free(stem: Path, taken: set[str]) -> Path:
    """`stem`, else `stem.2`, `stem.3`, ...: the first whose key is not in `taken`, which it then joins."""
    candidate, n = stem, 1
    while _key(candidate) in taken:
        n += 1
        candidate = stem.with_name(f"{stem.name}.{n}")
    taken.add(_key(candidate))
    return candidate


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
