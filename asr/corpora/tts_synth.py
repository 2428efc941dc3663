"""Turn texts per split into a synthetic-speech corpus: plan who says what, render in parallel, write manifests.

Plan: every text gets a voice of its split (see `tts_voices.split_voices`), a speaking rate, a pitch and a
loudness, all drawn from the seed, so the same arguments give the same corpus. Render: espeak-ng and flite run
once per utterance (they start in milliseconds); festival takes ~0.3 s to start, so one festival process renders
a whole chunk. Each engine writes its own rate (espeak 22.05 kHz, flite 8/16 kHz, festival 16/32 kHz); soxr
resamples to 16 kHz mono, written as 16-bit WAV.

Re-running is cheap: a file is written under a temporary name and renamed when whole, its name carries a hash of
everything that shapes its audio, and when the plan's hash matches the one stored beside complete manifests the
manifests are simply loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from asr.corpora import summary
from asr.errors import UserError, brief
from asr.corpora.tts_voices import (Voice, available_voices, espeak_command, festival_script, flite_command,
                                    split_voices)

if TYPE_CHECKING:
    from lhotse import CutSet

SAMPLE_RATE = 16_000
CHUNK = 40                 # utterances per worker task: amortises festival's start-up and the pool's overhead
TEST_SHARE, DEV_SHARE = 0.10, 0.05  # of all utterances: ~600 test utterances in 2.5 h of digits
ESPEAK_SHARE = 0.65        # of training utterances; the few natural voices get the rest (0.8 heard a held-out
                           # natural voice worse: demo, flite/rms 66 of the 83 word errors on held-out voices)
RATE = (0.8, 1.25)         # speaking-rate factor range, > 1 faster
PITCH = (0.85, 1.2)        # F0 factor range
LEVEL = (0.3, 0.95)        # peak amplitude range of the written files


@dataclass(frozen=True)
class Utterance:
    id: str
    split: str
    text: str          # normalised words: what the engine reads and what the manifest stores
    voice: Voice
    rate: float
    pitch: float       # ignored by voices that cannot change it (see tts_voices.NATURAL_F0)
    level: float

    def key(self) -> str:
        """A short hash of everything that shapes the audio: the file name changes when any of it does."""
        spec = f"{self.text}|{self.voice.id}|{self.rate:.3f}|{self.pitch:.3f}|{self.level:.3f}"
        return hashlib.sha1(spec.encode()).hexdigest()[:10]


def add_tts_arguments(parser: argparse.ArgumentParser, default_hours: float) -> None:
    """The options of every TTS corpus, named after the parameters of its prepare function."""
    parser.add_argument("--hours", type=float, default=default_hours,
                        help=f"about how much audio to synthesise, all splits together (default {default_hours})")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same texts, voices and audio (default 0)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel synthesis processes (default: CPU count)")


def split_sizes(hours: float, mean_seconds: float, min_sizes: dict[str, int]) -> dict[str, int]:
    """Utterances per split for about `hours` of audio; dev and test at least `min_sizes[split]` (one per voice)."""
    if not hours > 0:
        raise UserError(f"--hours must be a positive number of hours, not {hours}")
    total = round(hours * 3600 / mean_seconds)
    test = max(round(total * TEST_SHARE), min_sizes["test"])
    dev = max(round(total * DEV_SHARE), min_sizes["dev"])
    return {"train": max(total - test - dev, 1), "dev": dev, "test": test}


def voices_per_split(vocabulary: frozenset[str] = frozenset()) -> dict[str, list[Voice]]:
    """The voices of each split; with a `vocabulary`, also the accented voices that can respell all of it."""
    return split_voices(available_voices(vocabulary))


def plan(corpus: str, texts: dict[str, list[str]], voices: dict[str, list[Voice]], seed: int
         ) -> dict[str, list[Utterance]]:
    """Give every text a voice of its split, a rate, a pitch and a loudness, deterministically from `seed`.

    Training draws espeak voices for ESPEAK_SHARE of utterances and natural voices for the rest; dev and test
    cycle through their few voices so that each is heard equally.
    """
    rng = random.Random(f"{corpus}-voices-{seed}")
    out = {}
    for split, split_texts in texts.items():
        pool = voices[split]
        espeak = [v for v in pool if v.engine == "espeak"]
        natural = [v for v in pool if v.engine != "espeak"]
        order = rng.sample(pool, len(pool))
        utts = []
        for i, text in enumerate(split_texts):
            if split != "train":
                voice = order[i % len(order)]
            elif natural and (not espeak or rng.random() >= ESPEAK_SHARE):
                voice = rng.choice(natural)
            else:
                voice = rng.choice(espeak)
            utts.append(Utterance(f"{corpus}-{split}-{i:05d}", split, text, voice, round(rng.uniform(*RATE), 3),
                                  round(rng.uniform(*PITCH), 3), round(rng.uniform(*LEVEL), 3)))
        out[split] = utts
    return out


def build_corpus(corpus: str, out_dir: Path, utts: dict[str, list[Utterance]], jobs: int | None,
                 language: str = "English", translations: dict[str, dict[str, str]] | None = None
                 ) -> dict[str, CutSet]:
    """Render the plan under `out_dir/wav/{split}/` and write the manifests; reuse whatever already matches.
    `language` is the supervisions'; `translations` (utterance id -> {language: text}) go on them too."""
    out_dir = out_dir.resolve()  # manifests store absolute paths, so they work from any directory
    stamp = out_dir / "tts_plan.json"
    translations = translations or {}
    digest = hashlib.sha1("\n".join(f"{u.id} {u.key()}" + (f" {language} {sorted(translations[u.id].items())}"
                                                           if u.id in translations else "")
                                     for s in utts.values() for u in s).encode()).hexdigest()
    if stamp.exists() and json.loads(stamp.read_text()).get("plan") == digest:
        loaded = summary.load_splits(out_dir)
        if loaded is not None:
            return loaded
    all_utts = [u for s in utts.values() for u in s]
    samples = synthesise(all_utts, out_dir / "wav", jobs)
    cuts = {}
    for split, split_utts in utts.items():
        cuts[split] = []
        for u in split_utts:
            if u.id not in samples:
                continue
            rec = summary.file_recording(u.id, wav_path(out_dir / "wav", u), SAMPLE_RATE, samples[u.id])
            custom = {"voice": u.voice.id, "engine": u.voice.engine, "accent": u.voice.accent,
                      "rate": u.rate, "pitch": u.pitch}
            cuts[split].append(summary.utterance_cut(rec, u.text, u.voice.id, custom, language,
                                                     translations.get(u.id)))
    result = summary.save_splits(out_dir, cuts)
    stamp.write_text(json.dumps({"corpus": corpus, "plan": digest, "utterances": len(all_utts)}) + "\n")
    return result


def wav_path(wav_dir: Path, utt: Utterance) -> Path:
    return wav_dir / utt.split / f"{utt.id}-{utt.key()}.wav"


def synthesise(utts: list[Utterance], wav_dir: Path, jobs: int | None = None) -> dict[str, int]:
    """Render every utterance whose file is missing; return utterance id -> number of samples at 16 kHz.

    Utterances that fail (an engine error) are left out with a warning: one bad text must not stop the others.
    """
    done: dict[str, int] = {}
    todo = []
    for utt in utts:
        path = wav_path(wav_dir, utt)
        if path.exists():
            done[utt.id] = sf.info(str(path)).frames
        else:
            todo.append(utt)
    chunks = list(_chunks(todo))
    jobs = max(1, min(jobs or multiprocessing.cpu_count(), len(chunks) or 1))
    failures: list[str] = []
    with tqdm(total=len(utts), initial=len(done), desc="synthesising", unit="utt", file=sys.stderr) as bar:
        if jobs == 1:
            _collect((render_chunk(c, wav_dir) for c in chunks), done, failures, bar)
        else:
            # spawn, not fork: the caller may hold torch's thread pools, which do not survive a fork.
            with multiprocessing.get_context("spawn").Pool(jobs) as pool:
                results = pool.imap_unordered(_render_chunk_star, [(c, wav_dir) for c in chunks])
                _collect(results, done, failures, bar)
    if failures:
        print(f"warning: {len(failures)} utterances failed to synthesise and were left out: "
              + "; ".join(failures[:3]), file=sys.stderr)
    return done


def _collect(results, done: dict[str, int], failures: list[str], bar: tqdm) -> None:
    for chunk_done, chunk_failures in results:
        done.update(chunk_done)
        failures.extend(chunk_failures)
        bar.update(len(chunk_done) + len(chunk_failures))


def _chunks(utts: list[Utterance]) -> Iterator[list[Utterance]]:
    """Chunks of one engine each; festival's of one voice each, as its script selects the voice once.

    Festival's chunks come first: they are the slowest, and a slow chunk last leaves the other workers idle.
    """
    groups: dict[str, list[Utterance]] = {}
    for utt in sorted(utts, key=lambda u: u.voice.engine != "festival"):
        groups.setdefault(utt.voice.id if utt.voice.engine == "festival" else utt.voice.engine, []).append(utt)
    for group in groups.values():
        for i in range(0, len(group), CHUNK):
            yield group[i:i + CHUNK]


def _render_chunk_star(args: tuple[list[Utterance], Path]) -> tuple[dict[str, int], list[str]]:
    return render_chunk(*args)


def render_chunk(utts: list[Utterance], wav_dir: Path) -> tuple[dict[str, int], list[str]]:
    """Render utterances of one engine; returns (id -> samples written, failure messages)."""
    done: dict[str, int] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="asr-tts-") as tmp:
        raw = [Path(tmp) / f"{i}.wav" for i in range(len(utts))]
        errors = _engine_render(utts, raw)
        for utt, path, error in zip(utts, raw, errors):
            try:
                if error:
                    raise RuntimeError(error)
                done[utt.id] = _write_16k(path, wav_path(wav_dir, utt), utt.level)
            except Exception as e:  # any engine or audio failure is reported per utterance, never fatal
                failures.append(f"{utt.id} ({utt.voice.id}): {brief(e)}")
    return done, failures


def _engine_render(utts: list[Utterance], raw: list[Path]) -> list[str]:
    """Run the engine; one error message per utterance, empty when its raw file was written."""
    voice = utts[0].voice
    if voice.engine == "festival":
        script = raw[0].parent / "chunk.scm"
        items = [(u.text, u.rate, u.pitch, p) for u, p in zip(utts, raw)]
        script.write_text(festival_script(voice, items), encoding="utf-8")  # Cyrillic prompts: not the locale's
        error = _call(["festival", "-b", str(script)])
        return ["" if p.exists() else (error or "festival wrote no audio") for p in raw]
    command = espeak_command if voice.engine == "espeak" else flite_command
    return [_call(command(u.voice, u.text, u.rate, u.pitch, p)) for u, p in zip(utts, raw)]


def _call(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{cmd[0]}: {brief(e)}"
    return "" if proc.returncode == 0 else f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[:200]}"


def _write_16k(src: Path, dst: Path, level: float) -> int:
    audio, rate = sf.read(str(src), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)  # (S,) mono
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < 1e-4:
        raise RuntimeError("the engine produced silence")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    sf.write(str(tmp), audio * (level / peak), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    tmp.rename(dst)
    return len(audio)
