"""Common Voice in scripts other than Latin: a Russian fixture (espeak-ng's Russian voice, mp3 clips in the
archive's layout) prepares with its Cyrillic transcripts, trains two steps with a char tokenizer and scores;
a Chinese one is written one character per word."""

from __future__ import annotations

import json
import math
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightning as L
import pytest
from lhotse import CutSet
from lightning.pytorch.callbacks import ModelCheckpoint

from asr.cli import main
from asr.data.datamodule import ASRDataModule
from asr.model import ModelConfig
from asr.training.checkpoints import export
from asr.training.prepare import prepare_run
from asr.training.schedules import OptimConfig
from asr.training.task import ASRTask, TaskConfig, TokenizerConfig

CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\n"
RUSSIAN = {
    "train": ["Привет, мир!", "Съешь ещё этих булок.", "Да выпей чаю.", "Ёжик в тумане?"],
    "dev": ["Доброе утро!"],
    "test": ["Спасибо, до свидания."],
}
CHINESE = {"train": ["你好，世界。", "今天天气很好！"], "dev": ["谢谢。"], "test": ["再见？"]}
TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8,
            conv_module=False, dropout=0.0)


@pytest.fixture(autouse=True)
def threads_for_processes(monkeypatch):
    """lhotse reads the clips in spawned processes (~4 s to start each); threads run the same code in a test."""
    from lhotse.recipes import commonvoice as recipe

    monkeypatch.setattr(recipe, "ProcessPoolExecutor", lambda max_workers, mp_context: ThreadPoolExecutor(max_workers))


def common_voice(root: Path, language: str, sentences: dict[str, list[str]], voice: str) -> Path:
    """cv-corpus-*/<language>/{train,dev,test}.tsv + clips/*.mp3 at 48 kHz, each clip the sentence spoken."""
    lang = root / "cv-corpus-17.0-2024-03-15" / language
    (lang / "clips").mkdir(parents=True)
    n = 0
    for split, texts in sentences.items():
        rows = [CV_HEADER]
        for text in texts:
            clip = f"common_voice_{language}_{n}.mp3"
            wav = root / f"{n}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "48000",
                            str(lang / "clips" / clip)], check=True)
            rows.append(f"spk{n % 2}\t{clip}\t{text}\t2\t0\t\t\t\t\t{language}\t\n")
            n += 1
        (lang / f"{split}.tsv").write_text("".join(rows), encoding="utf-8")
    return lang.parent


def texts(path: Path) -> list[str]:
    return sorted(c.supervisions[0].text for c in CutSet.from_file(path))


@pytest.mark.timeout(300)
def test_russian_prepares_trains_and_scores(tmp_path, capsys):
    corpus = common_voice(tmp_path / "dl", "ru", RUSSIAN, "ru")
    data = tmp_path / "data"
    assert main(["prepare", "commonvoice", "--root", str(corpus), "--language", "ru", "--out", str(data),
                 "--num-jobs", "1"]) == 0
    assert "split into characters" not in capsys.readouterr().out
    assert texts(data / "train_cuts.jsonl.gz") == ["да выпей чаю", "привет мир", "съешь ещё этих булок", "ёжик в тумане"]
    assert texts(data / "test_cuts.jsonl.gz") == ["спасибо до свидания"]

    L.seed_everything(0, workers=True)
    task = ASRTask(ModelConfig(**TINY), OptimConfig(lr=1e-3, warmup_steps=2), TokenizerConfig("char"),
                   TaskConfig(cmvn_utterances=4))
    dm = ASRDataModule(train_manifests=str(data / "train_cuts.jsonl.gz"),
                       valid_manifests=str(data / "dev_cuts.jsonl.gz"), max_duration=6.0, num_buckets=2,
                       num_workers=0, seed=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=2, limit_val_batches=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_top_k=0)],
                        default_root_dir=tmp_path)
    prepare_run(trainer, task, dm)
    trainer.fit(task, datamodule=dm)
    assert trainer.global_step == 2
    assert set("привет") <= set(task.tokenizer.units)  # Cyrillic letters are the units, not <unk>

    export([tmp_path / "ckpt" / "last.ckpt"], tmp_path / "model.pt")
    out = tmp_path / "test.json"
    assert main(["evaluate", "--model", str(tmp_path / "model.pt"), "--manifest", str(data / "test_cuts.jsonl.gz"),
                 "--json", str(out), "--beam", "1"]) == 0
    scores = json.loads(out.read_text())
    assert scores["utterances"] == 1 and scores["words"] == 3 and math.isfinite(scores["wer"])


def test_chinese_is_written_one_character_per_word(tmp_path, capsys):
    corpus = common_voice(tmp_path / "dl", "zh-CN", CHINESE, "cmn")
    data = tmp_path / "data"
    assert main(["prepare", "commonvoice", "--root", str(corpus), "--language", "zh-CN", "--out", str(data),
                 "--num-jobs", "1"]) == 0
    assert "commonvoice: zh-CN is written without spaces" in capsys.readouterr().out
    assert texts(data / "train_cuts.jsonl.gz") == ["今 天 天 气 很 好", "你 好 世 界"]
    assert texts(data / "test_cuts.jsonl.gz") == ["再 见"]
