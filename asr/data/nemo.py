"""NeMo-style JSON-lines manifests <-> lhotse cuts.

A NeMo line: {"audio_filepath": "clips/a.wav", "text": "hello", "duration": 1.25, "offset": 0.0}
(`duration` and `offset` optional; a relative path is resolved against the manifest's own folder).
Each line becomes one MonoCut over [offset, offset + duration) of its file, with one supervision holding the text.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from tqdm import tqdm

from asr.data.jsonl import iter_jsonl, read_lines, resolve_audio_path
from asr.errors import UserError, brief
from asr.text import cut_text


def read_nemo_manifest(path: str | Path) -> CutSet:
    """NeMo JSON lines -> CutSet. A bad line (unreadable audio, missing keys) is skipped with one warning line on
    stderr naming it, so one broken file doesn't stop the rest; UserError when no line is usable."""
    path = Path(path)
    recordings: dict[Path, Recording] = {}
    rec_ids: set[str] = set()
    cut_ids: set[str] = set()
    cuts: list[MonoCut] = []

    def read_line(lineno: int, entry: dict | None, error: str | None) -> MonoCut:
        _read_line(path, lineno, entry, error, recordings, rec_ids, cut_ids, cuts)
        return cuts[-1]

    lines = tqdm(iter_jsonl(path), desc=f"reading {path.name}", unit=" lines", leave=False)
    return CutSet.from_cuts(read_lines(path, read_line, "NeMo lines", lines))


def _read_line(path: Path, lineno: int, entry: dict, error: str | None, recordings: dict[Path, Recording],
               rec_ids: set[str], cut_ids: set[str], cuts: list[MonoCut]) -> None:
    where = f"{path}:{lineno}"
    if error:
        raise UserError(f"{where}: {error}")
    if "audio_filepath" not in entry or "text" not in entry:
        raise UserError(f"{where}: a NeMo line needs 'audio_filepath' and 'text'")
    if not isinstance(entry["audio_filepath"], str) or not entry["audio_filepath"].strip():
        raise UserError(f"{where}: 'audio_filepath' must be a path (a non-empty string)")
    if not isinstance(entry["text"], str):
        raise UserError(f"{where}: 'text' must be a string, got {json.dumps(entry['text'])[:40]}")
    offset = _seconds(entry.get("offset"), "offset", where, default=0.0)
    claimed = _seconds(entry.get("duration"), "duration", where, default=None)
    audio = resolve_audio_path(entry["audio_filepath"], path.parent)
    if audio not in recordings:
        recordings[audio] = _recording(audio, where, rec_ids)
        rec_ids.add(recordings[audio].id)
    rec = recordings[audio]
    duration = claimed if claimed is not None else rec.duration - offset
    duration = min(duration, rec.duration - offset)  # a claimed duration a little past the end is rounding
    if duration <= 0:
        raise UserError(f"{where}: nothing to read: offset {offset:g} s and duration {claimed} against "
                        f"{audio} ({rec.duration:.2f} s)")
    cut_id = rec.id if offset == 0 else f"{rec.id}-{round(offset * 1000):08d}"
    cut_id = cut_id if cut_id not in cut_ids else f"{cut_id}-line{lineno}"
    cut_ids.add(cut_id)
    sup = SupervisionSegment(
        id=cut_id, recording_id=rec.id, start=0.0, duration=duration, channel=0, text=str(entry["text"])
    )
    cuts.append(
        MonoCut(id=cut_id, start=offset, duration=duration, channel=0, recording=rec, supervisions=[sup])
    )


def write_nemo_manifest(cuts: CutSet, path: str | Path) -> None:
    """CutSet -> NeMo JSON lines; paths under the manifest's folder are written relative to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent.resolve()
    with open(path, "w", encoding="utf-8") as f:
        for cut in cuts:
            sources = cut.recording.sources if isinstance(cut, MonoCut) and cut.has_recording else []
            if len(sources) != 1 or sources[0].type != "file":
                raise UserError(f"cut {cut.id} is not one audio file on disk; NeMo manifests need one file per line")
            audio = Path(sources[0].source).resolve()
            rel = os.path.relpath(audio, folder)
            entry = {
                "audio_filepath": rel if not rel.startswith("..") else str(audio),
                "text": cut_text(cut).strip(),
                "duration": round(cut.duration, 6),
            }
            if cut.start:
                entry["offset"] = round(cut.start, 6)
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _seconds(value: object, key: str, where: str, default: float | None) -> float | None:
    """A NeMo `offset`/`duration`: absent or null -> default; else a finite number >= 0."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UserError(f"{where}: '{key}' must be a number of seconds >= 0, got {json.dumps(value)[:40]}")
    return float(value)


def _recording(audio: Path, where: str, taken: set[str]) -> Recording:
    if audio.is_dir():
        raise UserError(f"{where}: {audio} is a folder, not an audio file")
    if not audio.is_file():
        raise UserError(f"{where}: audio file not found: {audio} (run `asr validate-data` to list every problem)")
    # the same name in two folders: keep ids unique and stable across runs
    rec_id = audio.stem if audio.stem not in taken else f"{audio.stem}-{hashlib.md5(bytes(audio)).hexdigest()[:8]}"
    try:
        return Recording.from_file(audio, recording_id=rec_id)
    except Exception as e:  # lhotse wraps the decoders' many error types
        raise UserError(f"{where}: cannot read audio {audio} ({brief(e)})") from None
