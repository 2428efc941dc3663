"""A small corpus of noise "utterances" with digit transcripts: enough to exercise training mechanics
(resume, DDP, export) without synthesising speech. Written as WAV files + a lhotse cut manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def noise_corpus(folder: Path, n: int = 24, seed: int = 0, translate_to: str | None = None) -> Path:
    """`translate_to`: each supervision also carries a "translation" into that language (its words reversed), as
    speech-translation corpora store it (`custom["translated_text"]`)."""
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
        custom = {"translated_text": {translate_to: " ".join(reversed(text.split()))}} if translate_to else None
        sup = SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration, text=text,
                                 custom=custom)
        cuts.append(MonoCut(id=rec.id, start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    path = folder / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def ddp_fit(tmp_path: Path, model: dict, data: dict) -> subprocess.CompletedProcess:
    """`asr fit --trainer.strategy ddp` with 2 CPU processes for 2 epochs, a tiny char model and `data`; each rank
    writes the cut ids it trained on to tmp_path/ids/rank{r}_epoch{e}.txt (tests/ddp_probe.py)."""
    cfg = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "max_epochs": 2,
                    "limit_val_batches": 0, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "default_root_dir": str(tmp_path / "run"),
                    "callbacks": [{"class_path": "ddp_probe.RecordCutIds",
                                   "init_args": {"out_dir": str(tmp_path / "ids")}}]},
        "model": {"model": model, "tokenizer": {"kind": "char"}, "optim": {"warmup_steps": 5},
                  "task": {"cmvn_utterances": 10}},
        "data": data,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "-m", "asr.cli", "fit", "--config", str(tmp_path / "cfg.yaml")],
                          env=env, capture_output=True, text=True, timeout=500, cwd=tmp_path)
