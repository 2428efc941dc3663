"""Usage:
    asr demo --out exp/demo                       # ~10 minutes on 2 CPU cores; offline once FSDD is here
    asr demo --out exp/demo --train-minutes 3     # quicker, less accurate
    asr demo --out exp/loso --holdout-speaker all # leave each FSDD speaker out in turn: WER on people never heard

The whole mission in one command: synthesise connected digits with many TTS voices and read the real FSDD
recordings, train the tiny model on both for a bounded time (recipes/tts/digits.yaml, through the same
LightningCLI as `asr fit`), export it, score it on held-out TTS voices and on the FSDD test takes, transcribe a
held-out file and draw its attention. Writes exp/demo/model.pt and exp/demo/results.json.
FSDD is read from --fsdd, $ASR_FSDD or ../shared/data/fsdd, else downloaded (12 MB, verified) once into downloads/.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from asr.decoding.options import DecodeOptions


RECIPE = "recipes/tts/digits.yaml"  # found by asr.resources, in a checkout or an installed wheel


@dataclass
class DemoConfig:
    out: Path = Path("exp/demo")
    data: Path = Path("data")  # prepared corpora are cached here and reused by later runs
    hours: float = 2.5  # of synthesised digits
    accents: bool = True  # the other languages' recorded persons reading respelled digits too (tts_accents)
    train_minutes: float = 7.5  # wall-clock training budget (the rest of the 10 minutes: ~1 prepare, ~0.3 scoring)
    # The decoding policy's defaults, but CTC at 0.5: on this tiny model's digits it scored best
    # (recipes/tts/RESULTS.md).
    decode: DecodeOptions = field(default_factory=lambda: DecodeOptions(ctc_weight=0.5))
    threads: int = 2
    seed: int = 0
    recipe: Path | None = None  # the LightningCLI config the train stage fits; None: RECIPE from asr.resources
    fsdd_root: Path | None = None  # FSDD recordings; None: asr.corpora.fsdd.default_root(), else `downloads`
    downloads: Path = Path("downloads")  # where FSDD is downloaded (once) when neither --fsdd nor default_root() has it
    overrides: tuple[str, ...] = ()  # extra LightningCLI arguments, e.g. ("--model.optim.lr", "0.003")
    # An FSDD speaker left out of training and dev: the FSDD test set is then all of that speaker's takes
    # (`asr prepare fsdd --split speaker`), a person the model has never heard.
    holdout_speaker: str | None = None


class StageTimer:
    def __init__(self) -> None:
        self.minutes: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        yield
        self.minutes[name] = round((time.perf_counter() - t0) / 60, 2)
        print(f"=== {name}: {self.minutes[name]:.2f} min ===", flush=True)


def fsdd_root(cfg: DemoConfig) -> Path:
    """--fsdd, else $ASR_FSDD or ../shared/data/fsdd, else FSDD downloaded into `cfg.downloads`."""
    from asr.corpora.fsdd import found_or_downloaded

    return cfg.fsdd_root or found_or_downloaded(cfg.downloads, cfg.data / "fsdd")


def prepare(cfg: DemoConfig) -> dict[str, Path]:
    from asr.corpora.fsdd import prepare_fsdd
    from asr.corpora.tts_digits import prepare_tts_digits

    prepare_tts_digits(cfg.data / "tts-digits", hours=cfg.hours, seed=cfg.seed, jobs=cfg.threads,
                       accents=cfg.accents)
    root = fsdd_root(cfg)
    if cfg.holdout_speaker:
        fsdd = cfg.data / f"fsdd-without-{cfg.holdout_speaker}"
        prepare_fsdd(root, fsdd, split="speaker", test_speaker=cfg.holdout_speaker)
    else:
        fsdd = cfg.data / "fsdd"
        prepare_fsdd(root, fsdd)
    return {"tts": cfg.data / "tts-digits", "fsdd": fsdd}


def train(cfg: DemoConfig, corpora: dict[str, Path]) -> Path:
    """Fit recipes/tts/digits.yaml with the demo's paths and time budget; returns the best checkpoint."""
    from asr.resources import resource
    from asr.training.cli import build_cli
    from asr.training.prepare import prepare_run, prepare_training

    run_dir = cfg.out / "train"

    def split(s: str) -> str:
        return json.dumps([str(corpora[name] / f"{s}_cuts.jsonl.gz") for name in ("tts", "fsdd")])

    seconds = int(cfg.train_minutes * 60)
    args = [
        "--config", str(cfg.recipe or resource(RECIPE)),
        "--seed_everything", str(cfg.seed),
        "--trainer.default_root_dir", str(run_dir),
        "--trainer.max_time", f"00:00:{seconds // 60:02d}:{seconds % 60:02d}",
        "--trainer.logger.init_args.save_dir", str(run_dir),
        "--data.train_manifests", split("train"),
        "--data.valid_manifests", split("dev"),
        "--data.test_manifests", split("test"),
        *cfg.overrides,
    ]
    cli = build_cli(args, run=False)
    # the training inputs afresh: an earlier demo into this folder may have had other data behind the same paths
    prepare_training(cli.model, cli.datamodule, cli.trainer.default_root_dir, force=True)
    prepare_run(cli.trainer, cli.model, cli.datamodule)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    ckpt = cli.trainer.checkpoint_callback
    best = ckpt.best_model_path or ckpt.last_model_path
    if not best:
        raise RuntimeError("training ended without a checkpoint")
    return Path(best)


def run_demo(cfg: DemoConfig) -> dict:
    import torch

    from asr.training.checkpoints import export

    torch.set_num_threads(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    timer = StageTimer()
    with timer("prepare"):
        corpora = prepare(cfg)
    with timer("train"):
        ckpt = train(cfg, corpora)
        model_path = cfg.out / "model.pt"
        export([ckpt], model_path)
    results: dict = {"model": str(model_path), "checkpoint": str(ckpt), "holdout_speaker": cfg.holdout_speaker}
    with timer("evaluate"):
        results.update(evaluate(cfg, model_path, corpora))
    with timer("transcribe"):
        results["example"] = transcribe_example(cfg, model_path, corpora)
    results["minutes"] = timer.minutes
    results["total_minutes"] = round(sum(timer.minutes.values()), 2)
    (cfg.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return results


def evaluate(cfg: DemoConfig, model_path: Path, corpora: dict[str, Path]) -> dict:
    """WER/CER of the exported model on the held-out TTS voices and the FSDD test takes (joint decoding)."""
    from lhotse import load_manifest

    from asr.inference.evaluation import evaluate as score
    from asr.inference.report import write_reports
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model

    model = load_model(model_path)
    opts = TranscribeOptions(decode=cfg.decode, word_timestamps=False, batch_size=32)
    out = {}
    for name, folder in (("tts_heldout_voices", corpora["tts"]), ("fsdd_test", corpora["fsdd"])):
        cuts = load_manifest(folder / "test_cuts.jsonl.gz")
        ev = score(model, cuts, opts)
        write_reports(ev, cfg.out / "eval", name, f"beam={cfg.decode.beam} ctc_weight={cfg.decode.ctc_weight}")
        r = ev.report
        out[name] = {"wer": round(r.wer, 4), "cer": round(r.cer, 4), "utterances": r.utterances,
                     "words": r.words, "rtf": round(ev.rtf, 4)}
        print(f"{name}: WER {100 * r.wer:.2f}%  CER {100 * r.cer:.2f}%  ({r.utterances} utterances)", flush=True)
    return out


def transcribe_example(cfg: DemoConfig, model_path: Path, corpora: dict[str, Path]) -> dict:
    """Transcribe the first held-out TTS utterance with word timestamps and draw its attention."""
    from lhotse import load_manifest

    from asr.audio import open_audio
    from asr.inference.options import TranscribeOptions
    from asr.inference.transcriber import load_model
    from asr.plots import save_png

    cut = next(iter(load_manifest(corpora["tts"] / "test_cuts.jsonl.gz")))
    path = cut.recording.sources[0].source
    model = load_model(model_path)
    [(_, result)] = list(model.transcribe_sources([(path, lambda: open_audio(path))], TranscribeOptions(cfg.decode)))
    if isinstance(result, Exception):
        raise result
    maps = model.attention_maps(path, lambda: open_audio(path), TranscribeOptions(cfg.decode))
    png = save_png(maps, cfg.out / "attention.png",
                   title=f"{Path(path).name} (voice {cut.supervisions[0].speaker}, never heard in training)")
    words = [(w.word, w.start, w.end, round(w.confidence, 2)) for s in result.segments for w in s.words]
    print(f"{path}\n  reference:  {cut.supervisions[0].text}\n  hypothesis: {result.text}\n  words: {words}\n"
          f"  attention:  {png}", flush=True)
    return {"audio": str(path), "reference": cut.supervisions[0].text, "hypothesis": result.text,
            "words": words, "attention_png": str(png)}


def print_table(results: dict) -> None:
    print("\n| test set | utterances | WER % | CER % |\n|---|---|---|---|")
    for name in ("tts_heldout_voices", "fsdd_test"):
        r = results[name]
        print(f"| {name} | {r['utterances']} | {100 * r['wer']:.2f} | {100 * r['cer']:.2f} |")
    if results.get("holdout_speaker"):
        print(f"(fsdd_test: every take of {results['holdout_speaker']}, a speaker left out of training and dev)")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in results["minutes"].items())
    print(f"\nminutes per stage: {stages}; total {results['total_minutes']:.2f}")
    print(f"model: {results['model']}  results: {Path(results['model']).parent / 'results.json'}")


def run_leave_one_out(cfg: DemoConfig, speakers: list[str]) -> dict:
    """The demo once per FSDD speaker, that speaker left out (into cfg.out/without-<name>/); -> each speaker's
    WER on their own takes and the mean, also written to cfg.out/leave_one_speaker_out.json."""
    from dataclasses import replace

    rows = {}
    for name in speakers:
        print(f"\n##### leaving out {name} ({len(rows) + 1} of {len(speakers)}) #####", flush=True)
        r = run_demo(replace(cfg, out=cfg.out / f"without-{name}", holdout_speaker=name))
        rows[name] = {"fsdd_wer": r["fsdd_test"]["wer"], "fsdd_cer": r["fsdd_test"]["cer"],
                      "utterances": r["fsdd_test"]["utterances"], "tts_heldout_wer": r["tts_heldout_voices"]["wer"],
                      "minutes": r["total_minutes"]}
    mean = sum(r["fsdd_wer"] for r in rows.values()) / len(rows)
    out = {"speakers": rows, "mean_fsdd_wer": round(mean, 4), "seed": cfg.seed, "train_minutes": cfg.train_minutes,
           "overrides": list(cfg.overrides)}
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "leave_one_speaker_out.json").write_text(json.dumps(out, indent=2) + "\n")
    print("\n| left out | takes | WER % (never heard) | CER % | held-out TTS voices WER % | minutes |\n|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['utterances']} | {100 * r['fsdd_wer']:.2f} | {100 * r['fsdd_cer']:.2f} | "
              f"{100 * r['tts_heldout_wer']:.2f} | {r['minutes']:.2f} |")
    print(f"\nmean leave-one-speaker-out WER: {100 * mean:.2f}%  ({cfg.out / 'leave_one_speaker_out.json'})")
    return out
