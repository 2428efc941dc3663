"""Check a manifest (lhotse cuts or NeMo lines) before training: every problem with the line it is on.

Per line: duplicated lines and ids, missing files (or directories), unreadable or empty (no samples, or digital
silence) audio, a sample rate that differs from the manifest's claim, a claimed duration that differs from the
file, an empty transcript, a transcript too long for its duration, characters the tokenizer cannot write, numbers
written in digits. Over the whole manifest: durations above `max_duration`, and speaking-rate outliers: a transcript
far too long or far too short for its audio at the corpus's own speaking rate (median and MAD of its characters per
second, with room for pauses, so a short "yes" with some silence around it is not one). A bad line never stops the
check of the others.

Each kind is an error or a warning. An error is data training would read wrongly or not at all (the command
exits 1); a warning is a heuristic that real, correct data trips too (a fast speaker, a slow one), so it is
printed to be looked at and does not fail the check (unless --strict).
numpy and lhotse are imported inside the functions, so `asr --help` (which imports the command module) stays fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from asr.data.jsonl import iter_jsonl, resolve_audio_path
from asr.data.manifests import CUT_TYPES, configure_audio_backend, manifest_kind
from asr.text import cut_text, normalise_text

DEFAULT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789'"  # what normalise_text writes, besides the space

# kind -> what it means; also the order of the summary
KINDS: dict[str, str] = {
    "malformed": "line is not a valid manifest entry",
    "duplicate-line": "the same entry as an earlier line",
    "duplicate-id": "cut id (NeMo: audio segment) used on an earlier line",
    "missing-file": "no audio file at the path (nothing there, or a directory)",
    "unreadable-audio": "audio file cannot be decoded",
    "empty-audio": "audio has no samples or is digital silence",
    "sample-rate": "file's sample rate differs from the manifest's",
    "duration-mismatch": "claimed duration differs from the file",
    "empty-text": "transcript is empty after normalisation",
    "text-too-long": "more tokens per second than can be spoken (or aligned)",
    "bad-chars": "characters the tokenizer cannot write",
    "numeral": "a number written in digits where numbers are spelled as words",
    "too-long": "longer than --max-duration",
    "rate-outlier": "transcript far too long or too short for its audio at the corpus's speaking rate",
}
# Heuristics that correct data trips too, so they are reported but do not fail the check:
# - text-too-long: tokens per second against one model's frame budget (x4 subsampling, character tokens); a
#   word or BPE tokenizer, or another subsampling, has another budget, and CTC training survives an infeasible
#   utterance (zero_infinity: its CTC term is 0, the attention decoder still learns from it). Found on the
#   project's own TTS digits (26 characters/s of fast synthetic speech) and tightly trimmed FSDD takes.
# - rate-outlier: a slow speaker's 0.8 s "seven" among 0.4 s takes is correct data, and so is a sigh, a long pause.
# Everything else is data training reads wrongly (a label that disagrees with the audio or with the rest of
# the corpus, audio it cannot decode, a duplicate that weighs one utterance twice) or a limit the user set.
WARNINGS = frozenset({"text-too-long", "rate-outlier"})
# Evidence that a corpus spells numbers as words. Not "one": "no one", "one of them" say nothing about numbers.
NUMBER_WORDS = frozenset(
    "zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "million billion".split()
)
_DIGIT = re.compile(r"[0-9]")


def severity(kind: str) -> str:
    return "warning" if kind in WARNINGS else "error"


@dataclass(frozen=True)
class ValidationConfig:
    allowed_chars: str = DEFAULT_CHARS  # the space is always allowed
    sample_rate: int | None = None  # the rate NeMo lines are expected at (they do not record one)
    max_duration: float | None = None  # seconds
    # "char", "word", "bpe", "unigram" or None (unknown). "word": text-too-long counts words, and any digit in a
    # transcript is a numeral (the vocabulary would hold "2" beside "two").
    tokenizer_kind: str | None = None
    # CTC needs at least one encoder frame per token (two between repeated ones): at a 10 ms hop and 4x
    # subsampling that is 25 per second. Tokens are characters (space included), or words for a word tokenizer.
    max_chars_per_second: float = 25.0
    duration_tolerance: float = 0.1  # seconds; compressed formats round their lengths
    # A rate outlier is this many robust standard deviations (1.4826 MAD) of log characters per second from the
    # corpus's median, and at least `outlier_factor` times faster or slower. Generous on purpose: LibriSpeech's
    # speaking rates spread by ~20%, so only a transcript that does not belong to its audio (or lost most of its
    # words) is far enough out. `pause_s` of audio are always allowed on top of the speech (leading and trailing
    # silence dominate short utterances' durations).
    outlier_k: float = 5.0
    outlier_factor: float = 3.0
    pause_s: float = 2.0
    min_entries_for_outliers: int = 10
    decode: bool = True  # decode every file (finds corrupt data and silence); False reads headers only


@dataclass(frozen=True)
class Issue:
    line: int
    kind: str
    message: str

    @property
    def severity(self) -> str:
        return severity(self.kind)


@dataclass
class Report:
    path: Path
    kind: str  # 'lhotse' or 'nemo'
    entries: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed): what the exit status says."""
        return not self.errors

    def counts(self) -> Counter:
        return Counter(i.kind for i in self.issues)

    def lines(self, per_kind: int | None = 5, examples: int = 3) -> list[str]:
        """One `path:line: error|warning: kind: message` per issue, by line. A kind with more than `per_kind`
        issues shows its first `examples`, then one line that counts the rest and names their first lines
        (per_kind None: every issue)."""
        counts = self.counts()
        shown: Counter = Counter()
        out, rest = [], {}
        for i in sorted(self.issues, key=lambda i: i.line):
            many = per_kind is not None and counts[i.kind] > per_kind
            if many and shown[i.kind] >= examples:
                rest.setdefault(i.kind, []).append(i.line)
                continue
            shown[i.kind] += 1
            out.append(f"{self.path}:{i.line}: {i.severity}: {i.kind}: {i.message}")
        for kind in (k for k in KINDS if k in rest):
            lines = rest[kind]
            first = ", ".join(map(str, lines[:8])) + (", ..." if len(lines) > 8 else "")
            out.append(f"{self.path}: {severity(kind)}: {kind}: {len(lines)} more like these (lines {first}); "
                       "--all prints every one")
        return out

    def summary(self) -> str:
        """One line: both counts, each by kind, e.g. `x.jsonl: 20 entries (nemo), 2 lines with errors (1
        missing-file, 1 numeral); 3 warnings (3 text-too-long)`."""
        head = f"{self.path}: {self.entries} entries ({self.kind})"
        if not self.issues:
            return f"{head}, no problems found"
        counts = self.counts()

        def by_kind(issues: list[Issue]) -> str:
            return ", ".join(f"{counts[k]} {k}" for k in KINDS if counts[k] and severity(k) == issues[0].severity)

        errors, warnings = self.errors, self.warnings
        lines = len({i.line for i in errors})
        err = f"{_n(lines, 'line')} with errors ({by_kind(errors)})" if errors else "no errors"
        warn = f"{_n(len(warnings), 'warning')} ({by_kind(warnings)})" if warnings else "no warnings"
        return f"{head}, {err}; {warn}"


@dataclass
class _FileRef:
    path: Path
    claimed_rate: int | None
    claimed_file_duration: float | None  # lhotse records the whole file's length
    segment_end: float | None  # offset + duration of the part the entry uses


@dataclass
class _Timing:
    line: int
    duration: float  # seconds
    chars: int  # characters of the normalised transcript, spaces left out
    dense: bool  # text-too-long already said the transcript is too long for it


@dataclass
class _Entry:
    line: int
    text: str
    duration: float | None  # the claimed duration of the entry's segment
    files: list[_FileRef]


def validate_manifest(path: str | Path, cfg: ValidationConfig = ValidationConfig()) -> Report:
    path = Path(path)
    configure_audio_backend()
    report = Report(path, manifest_kind(path))
    seen_ids: dict[object, int] = {}
    seen_lines: dict[bytes, int] = {}
    numbers = _Numbers()
    timings: list[_Timing] = []
    for lineno, raw, error in tqdm(iter_jsonl(path), desc=f"checking {path.name}", unit=" lines"):
        report.entries += 1
        issues = report.issues
        if error:
            issues.append(Issue(lineno, "malformed", error))
            continue
        # The same entry again (a concatenation run twice, a copy-paste): its other problems, if any, are
        # reported on the first copy. Keys are sorted so a rewritten-but-equal line counts too.
        digest = hashlib.blake2b(json.dumps(raw, sort_keys=True).encode(), digest_size=16).digest()
        if digest in seen_lines:
            issues.append(Issue(lineno, "duplicate-line", f"the same entry as line {seen_lines[digest]}"))
            continue
        seen_lines[digest] = lineno
        try:
            entry = _parse(lineno, raw, report.kind, path.parent, cfg, seen_ids, issues)
        except KeyError as e:
            issues.append(Issue(lineno, "malformed", f"missing field {e}"))
            continue
        except (TypeError, ValueError, AttributeError) as e:
            issues.append(Issue(lineno, "malformed", _short(e)))
            continue
        real = None
        for ref in entry.files:
            real = _check_file(lineno, ref, cfg, issues) or real
        duration = entry.duration if entry.duration is not None else real
        dense = _check_text(lineno, entry.text, duration, cfg, issues, numbers)
        if duration is not None:
            chars = len(normalise_text(entry.text).replace(" ", ""))
            timings.append(_Timing(lineno, duration, chars, dense))
    issues = report.issues
    issues += numbers.issues(cfg)
    _check_durations(timings, cfg, issues)
    return report


def _parse(
    lineno: int, raw: dict, kind: str, folder: Path, cfg: ValidationConfig, seen_ids: dict, issues: list[Issue]
) -> _Entry:
    if kind == "nemo":
        if "audio_filepath" not in raw or "text" not in raw:
            raise ValueError("a NeMo line needs 'audio_filepath' and 'text'")
        offset = float(raw.get("offset") or 0.0)
        duration = float(raw["duration"]) if raw.get("duration") is not None else None
        ref = _FileRef(
            resolve_audio_path(str(raw["audio_filepath"]), folder),
            claimed_rate=int(raw["sample_rate"]) if raw.get("sample_rate") else cfg.sample_rate,
            claimed_file_duration=duration if offset == 0 else None,  # NeMo: no offset means the whole file
            segment_end=offset + duration if duration is not None else None,
        )
        # NeMo lines have no id; the audio they use is one (the same audio twice, with two transcripts)
        key = (str(ref.path), offset, duration)
        if key in seen_ids:
            where = f"{raw['audio_filepath']} (offset {offset:g} s)"
            issues.append(Issue(lineno, "duplicate-id", f"{where} is already used on line {seen_ids[key]}"))
        seen_ids.setdefault(key, lineno)
        return _Entry(lineno, str(raw["text"]), duration, [ref])
    from lhotse import MonoCut
    from lhotse.serialization import deserialize_item

    if raw.get("type") not in CUT_TYPES:
        raise ValueError(f"not a lhotse cut: 'type' is {raw.get('type')!r}, expected one of {sorted(CUT_TYPES)}")
    cut = deserialize_item(dict(raw))
    if cut.id in seen_ids:
        issues.append(Issue(lineno, "duplicate-id", f"cut id {cut.id!r} was used on line {seen_ids[cut.id]}"))
    seen_ids.setdefault(cut.id, lineno)
    tracks = [t.cut for t in getattr(cut, "tracks", [])]  # a MixedCut's parts
    monos = [c for c in [cut, *tracks] if isinstance(c, MonoCut)]
    refs = []
    for mono in monos:
        if not mono.has_recording:
            continue
        rec = mono.recording
        for src in rec.sources:
            if src.type == "file":  # urls, in-memory and shell-command sources are not checked here
                end = mono.start + mono.duration
                refs.append(_FileRef(Path(src.source), rec.sampling_rate, rec.duration, end))
    text = cut_text(cut)
    return _Entry(lineno, text, cut.duration, refs)


def _check_file(lineno: int, ref: _FileRef, cfg: ValidationConfig, issues: list[Issue]) -> float | None:
    """Problems with one audio file; returns its real duration in seconds when it could be read."""
    import numpy as np
    from lhotse.audio.backend import info as audio_info
    from lhotse.audio.backend import read_audio

    if ref.path.is_dir():
        issues.append(Issue(lineno, "missing-file", f"{ref.path} is a directory, not an audio file"))
        return None
    if not ref.path.is_file():
        issues.append(Issue(lineno, "missing-file", f"{ref.path} does not exist"))
        return None
    try:
        if cfg.decode:
            samples, rate = read_audio(ref.path)
            samples = np.asarray(samples)
            frames = samples.shape[-1] if samples.size else 0
            silent = samples.size > 0 and not np.any(samples)
        else:
            meta = audio_info(ref.path)
            rate, frames, silent = meta.samplerate, meta.frames, False
    except Exception as e:  # each decoder raises its own types; any of them means "cannot read"
        issues.append(Issue(lineno, "unreadable-audio", f"{ref.path} cannot be decoded: {_short(e)}"))
        return None
    if frames == 0 or silent:
        issues.append(Issue(lineno, "empty-audio", f"{ref.path} has {'only zeros' if silent else 'no samples'}"))
    if ref.claimed_rate is not None and int(rate) != int(ref.claimed_rate):
        issues.append(Issue(lineno, "sample-rate",
                            f"{ref.path} is {int(rate)} Hz, manifest says {ref.claimed_rate} Hz"))
    real = frames / rate if rate else 0.0
    tol = cfg.duration_tolerance
    if ref.claimed_file_duration is not None and abs(ref.claimed_file_duration - real) > tol:
        issues.append(Issue(
            lineno, "duration-mismatch", f"{ref.path} is {real:.2f} s, manifest says {ref.claimed_file_duration:.2f} s"
        ))
    elif ref.segment_end is not None and ref.segment_end > real + tol:
        issues.append(Issue(
            lineno, "duration-mismatch", f"segment ends at {ref.segment_end:.2f} s but {ref.path} is {real:.2f} s"
        ))
    return real


def _check_text(lineno: int, text: str, duration: float | None, cfg: ValidationConfig, issues: list[Issue],
                numbers: _Numbers) -> bool:
    """Problems with one transcript; True when it is too long for its duration (text-too-long)."""
    norm = normalise_text(text)
    if not norm:
        issues.append(Issue(lineno, "empty-text", f"transcript {text!r} is empty after normalisation"))
        return False
    bad = outside_chars(text, cfg.allowed_chars)
    if bad:
        issues.append(Issue(lineno, "bad-chars", "characters outside the tokenizer: " + " ".join(repr(c) for c in bad)))
    numbers.add(lineno, norm, set(bad))
    words = cfg.tokenizer_kind == "word"
    units = norm.split() if words else list(norm)
    # CTC puts a blank between two equal tokens ("ll" of "hello", "two two"), so each repeat needs a frame too
    needed = len(units) + sum(a == b for a, b in zip(units, units[1:]))
    if duration and needed / duration > cfg.max_chars_per_second:
        rate, limit = needed / duration, cfg.max_chars_per_second
        if words:
            why = "more than can be spoken; check that the transcript belongs to this audio"
        else:
            why = "more than a character CTC model at 40 ms frames can emit (word or BPE tokens need fewer frames)"
        issues.append(Issue(
            lineno, "text-too-long",
            f"{len(units)} {'words' if words else 'characters'} need {needed} frames in {duration:.2f} s = "
            f"{rate:.1f}/s (max {limit:g}/s): {why}",
        ))
        return True
    return False


class _Numbers:
    """Numbers written in digits, judged once the whole manifest is read: against a word vocabulary, or in a
    corpus that spells numbers out elsewhere, "2" is a second spelling of "two" (the model must learn both for
    one sound, and scoring counts "two" against "2" as an error)."""

    def __init__(self) -> None:
        self.numerals: list[tuple[int, list[str]]] = []  # (line, words with digits)
        self.spelled: tuple[int, str] | None = None  # the first number word seen, and its line

    def add(self, lineno: int, norm: str, bad: set[str]) -> None:
        words = norm.split()
        found = [w for w in dict.fromkeys(words) if _DIGIT.search(w) and not set(w) & bad]  # bad-chars said it
        if found:
            self.numerals.append((lineno, found))
        if self.spelled is None:
            spelled = next((w for w in words if w in NUMBER_WORDS), None)
            if spelled:
                self.spelled = (lineno, spelled)

    def issues(self, cfg: ValidationConfig) -> list[Issue]:
        if cfg.tokenizer_kind == "word":
            why = "a word tokenizer learns it apart from the spoken form"
        elif self.spelled is not None:
            why = f"the corpus spells numbers as words ({self.spelled[1]!r} on line {self.spelled[0]})"
        else:
            return []  # a char tokenizer can write digits, and nothing says they are the wrong spelling here
        return [Issue(line, "numeral", f"{', '.join(map(repr, words))} written in digits, but {why}; "
                      "write numbers as they are spoken") for line, words in self.numerals]


def outside_chars(text: str, allowed: str) -> list[str]:
    """Characters of `text` that would reach training as something the tokenizer cannot write, or be lost.

    Punctuation and spaces are meant to be dropped by normalise_text, so they never count; a letter, digit or
    symbol counts when its normalised form is empty ('日', '€') or uses a character not in `allowed`.
    """
    allowed_set = set(allowed) | {" "}
    bad = []
    for c in dict.fromkeys(text):  # unique, in order
        if unicodedata.category(c)[0] in "PZC":
            continue
        norm = normalise_text(c)
        if not norm or any(n not in allowed_set for n in norm):
            bad.append(c)
    return bad


def _check_durations(timings: list[_Timing], cfg: ValidationConfig, issues: list[Issue]) -> None:
    if cfg.max_duration is not None:
        for t in timings:
            if t.duration > cfg.max_duration:
                issues.append(Issue(t.line, "too-long", f"{t.duration:.2f} s > --max-duration {cfg.max_duration:g} s"))
    spoken = [t for t in timings if t.chars and t.duration > 0]
    if len(spoken) < cfg.min_entries_for_outliers:
        return
    logs = [math.log(t.chars / t.duration) for t in spoken]
    centre = statistics.median(logs)
    sigma = 1.4826 * statistics.median(abs(x - centre) for x in logs)  # a normal's standard deviation, robustly
    factor = max(cfg.outlier_factor, math.exp(cfg.outlier_k * sigma))
    rate = math.exp(centre)  # the corpus's characters per second
    for t in spoken:
        needs = t.chars / rate  # seconds the transcript takes at the corpus's rate
        if t.chars / t.duration > rate * factor and not t.dense:
            issues.append(Issue(t.line, "rate-outlier", (
                f"{t.chars} characters in {t.duration:.2f} s = {t.chars / t.duration:.1f}/s, "
                f"{t.chars / t.duration / rate:.1f}x the corpus's median {rate:.1f}/s: "
                "check that the transcript belongs to this audio")))
        elif t.duration - cfg.pause_s > needs * factor:
            issues.append(Issue(t.line, "rate-outlier", (
                f"{t.duration:.2f} s of audio for {t.chars} characters ({needs:.2f} s at the corpus's median "
                f"{rate:.1f}/s): a transcript missing most of its words, or audio that is mostly not speech")))


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:300]  # one line: decoders' messages span several
