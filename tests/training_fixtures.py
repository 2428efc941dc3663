"""A small corpus of noise "utterances" with digit transcripts: enough to exercise training mechanics
(resume, DDP, export) without synthesising speech. Written as WAV files + a lhotse cut manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def noise_corpus(folder: Path, n: int = 24, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cuts = []
    for i in range(n):
        dur = float(rng.uniform(0.5, 1.5))
        audio = (rng.standard_normal(int(16000 * dur)) * 0.1).astype(np.float32)
        path = folder / f"u{i:03d}.wav"
        sf.write(path, audio, 16000)
        rec = Recording.from_file(path, recording_id=f"u{i:03d}")
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4))))
        sup = SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration, text=text)
        cuts.append(MonoCut(id=rec.id, start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    path = folder / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path
