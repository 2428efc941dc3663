"""Check a manifest (lhotse cuts or NeMo lines) before training: every problem with the line it is on.

Per line: missing files, unreadable or empty (no samples, or digital silence) audio, a sample rate that differs
from the manifest's claim, a claimed duration that differs from the file, an empty transcript, a transcript too
long for its duration, characters the tokenizer cannot write. Over the whole manifest: durations above
`max_duration` and robust z-score outliers. A bad line never stops the check of the others.
numpy and lhotse are imported inside the functions, so `asr --help` (which imports the command module) stays fast.
"""

from __future__ import annotations

import math
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from asr.data.manifests import CUT_TYPES, configure_audio_backend, iter_jsonl, manifest_kind, resolve_audio_path
from asr.text import cut_text, normalise_text

DEFAULT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789'"  # what normalise_text writes, besides the space

# kind -> what it means; also the order of the summary
KINDS: dict[str, str] = {
    "malformed": "line is not a valid manifest entry",
    "duplicate-id": "cut id used on an earlier line",
    "missing-file": "audio file does not exist",
    "unreadable-audio": "audio file cannot be decoded",
    "empty-audio": "audio has no samples or is digital silence",
    "sample-rate": "file's sample rate differs from the manifest's",
    "duration-mismatch": "claimed duration differs from the file",
    "empty-text": "transcript is empty after normalisation",
    "text-too-long": "more characters per second than can be spoken (or aligned)",
    "bad-chars": "characters the tokenizer cannot write",
    "too-long": "longer than --max-duration",
    "duration-outlier": "duration is a robust z-score outlier",
}


@dataclass(frozen=True)
class ValidationConfig:
    allowed_chars: str = DEFAULT_CHARS  # the space is always allowed
    sample_rate: int | None = None  # the rate NeMo lines are expected at (they do not record one)
    max_duration: float | None = None  # seconds
    # CTC needs at least one encoder frame per token: at a 10 ms hop and 4x subsampling that is 25 per second.
    max_chars_per_second: float = 25.0
    duration_tolerance: float = 0.1  # seconds; compressed formats round their lengths
    outlier_z: float = 3.5  # Iglewicz & Hoaglin's cut-off for the modified z-score
    min_entries_for_outliers: int = 10
    decode: bool = True  # decode every file (finds corrupt data and silence); False reads headers only


@dataclass(frozen=True)
class Issue:
    line: int
    kind: str
    message: str


@dataclass
class Report:
    path: Path
    kind: str  # 'lhotse' or 'nemo'
    entries: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def counts(self) -> Counter:
        return Counter(i.kind for i in self.issues)

    def lines(self) -> list[str]:
        """One `path:line: kind: message` per issue, by line."""
        return [f"{self.path}:{i.line}: {i.kind}: {i.message}" for i in sorted(self.issues, key=lambda i: i.line)]

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: {self.entries} entries ({self.kind}), no problems found"
        counts = self.counts()
        bad_lines = len({i.line for i in self.issues})
        parts = ", ".join(f"{counts[k]} {k}" for k in KINDS if counts[k])
        return f"{self.path}: {self.entries} entries ({self.kind}), {bad_lines} with problems: {parts}"


@dataclass
class _FileRef:
    path: Path
    claimed_rate: int | None
    claimed_file_duration: float | None  # lhotse records the whole file's length
    segment_end: float | None  # offset + duration of the part the entry uses


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
    seen_ids: dict[str, int] = {}
    durations: list[tuple[int, float]] = []
    for lineno, raw, error in tqdm(iter_jsonl(path), desc=f"checking {path.name}", unit=" lines"):
        report.entries += 1
        issues = report.issues
        if error:
            issues.append(Issue(lineno, "malformed", error))
            continue
        try:
            entry = _parse(lineno, raw, report.kind, path.parent, cfg, seen_ids, issues)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            issues.append(Issue(lineno, "malformed", f"{type(e).__name__}: {e}"))
            continue
        real = None
        for ref in entry.files:
            real = _check_file(lineno, ref, cfg, issues) or real
        duration = entry.duration if entry.duration is not None else real
        _check_text(lineno, entry.text, duration, cfg, issues)
        if duration is not None:
            durations.append((lineno, duration))
    _check_durations(durations, cfg, report.issues)
    return report


def _parse(
    lineno: int, raw: dict, kind: str, folder: Path, cfg: ValidationConfig, seen_ids: dict, issues: list[Issue]
) -> _Entry:
    if kind == "nemo":
        if "audio_filepath" not in raw or "text" not in raw:
            raise KeyError("a NeMo line needs 'audio_filepath' and 'text'")
        offset = float(raw.get("offset") or 0.0)
        duration = float(raw["duration"]) if raw.get("duration") is not None else None
        ref = _FileRef(
            resolve_audio_path(str(raw["audio_filepath"]), folder),
            claimed_rate=int(raw["sample_rate"]) if raw.get("sample_rate") else cfg.sample_rate,
            claimed_file_duration=duration if offset == 0 else None,  # NeMo: no offset means the whole file
            segment_end=offset + duration if duration is not None else None,
        )
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
        issues.append(Issue(lineno, "unreadable-audio", f"{ref.path}: {type(e).__name__}: {_short(e)}"))
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


def _check_text(lineno: int, text: str, duration: float | None, cfg: ValidationConfig, issues: list[Issue]) -> None:
    norm = normalise_text(text)
    if not norm:
        issues.append(Issue(lineno, "empty-text", f"transcript {text!r} is empty after normalisation"))
        return
    bad = outside_chars(text, cfg.allowed_chars)
    if bad:
        issues.append(Issue(lineno, "bad-chars", "characters outside the tokenizer: " + " ".join(repr(c) for c in bad)))
    if duration and len(norm) / duration > cfg.max_chars_per_second:
        rate = len(norm) / duration
        issues.append(Issue(
            lineno, "text-too-long",
            f"{len(norm)} characters in {duration:.2f} s = {rate:.1f}/s (max {cfg.max_chars_per_second:g}/s)",
        ))


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


def _check_durations(durations: list[tuple[int, float]], cfg: ValidationConfig, issues: list[Issue]) -> None:
    if cfg.max_duration is not None:
        for line, d in durations:
            if d > cfg.max_duration:
                issues.append(Issue(line, "too-long", f"{d:.2f} s > --max-duration {cfg.max_duration:g} s"))
    if len(durations) < cfg.min_entries_for_outliers:
        return
    values = [d for _, d in durations]
    median = statistics.median(values)
    mad = statistics.median(abs(d - median) for d in values)
    if mad == 0 or not math.isfinite(mad):
        return
    for line, d in durations:
        z = 0.6745 * (d - median) / mad
        if abs(z) > cfg.outlier_z:
            issues.append(Issue(
                line, "duration-outlier", f"{d:.2f} s (median {median:.2f} s, robust z {z:+.1f})"
            ))


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:300]  # one line: decoders' messages span several
