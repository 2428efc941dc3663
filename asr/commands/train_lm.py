"""Usage:
    asr train-lm --units exp/tts-sentences/model.pt --text data/tts-sentences/lm_text.txt \\
        --out exp/tts-sentences/lm.pt --max-steps 3000
    asr train-lm --units model.pt --manifest data/librispeech/train_cuts.jsonl.gz --out lm.pt --resume

Trains a decoder-only transformer LM on the units of an acoustic model (`--units`: its model file) from text
files (one sentence a line) and/or manifests' transcripts, with Lightning: length-bucketed batches of at most
--max-tokens units, AdamW with warmup and cosine decay over --max-steps, validation perplexity on a held-out 1%
every --val-every steps, atomic checkpoints in --exp-dir (`--resume` continues the newest readable one, exactly
where it stopped). Writes --out: one self-contained file (config, units, the best weights by validation loss)
that loads with weights_only=True, for `asr transcribe/evaluate --lm`.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from asr.commands import add_compute_arguments, apply_compute_arguments
from asr.errors import UserError

SIZES = {  # d_model, heads, layers, ffn
    "tiny": (128, 4, 2, 512),
    "small": (256, 4, 4, 1024),
    "base": (512, 8, 16, 2048),  # ESPnet's LibriSpeech transformer LM: 16 layers, 512 units, 8 heads
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", required=True, help="acoustic model file whose tokenizer the LM is trained on")
    parser.add_argument("--text", action="append", default=[], help="text file, one sentence a line (repeatable)")
    parser.add_argument("--manifest", action="append", default=[], help="manifest whose transcripts to use (repeatable)")
    parser.add_argument("--held-out", action="append", default=[], metavar="MANIFEST",
                        help="dev/test manifest none of whose sentences may be in the text (repeatable): refused if so")
    parser.add_argument("--out", required=True, help="LM file to write, e.g. exp/lm.pt")
    parser.add_argument("--exp-dir", help="checkpoints and logs (default: beside --out, <out stem>_train/)")
    parser.add_argument("--resume", action="store_true", help="continue the newest readable checkpoint in --exp-dir")
    parser.add_argument("--size", default="small", choices=SIZES, help="LM size (default small: 4 x 256)")
    parser.add_argument("--layers", type=int, help="override the size's layer count")
    parser.add_argument("--d-model", type=int, help="override the size's d_model")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout (default 0.1)")
    parser.add_argument("--max-steps", type=int, default=3000, help="optimiser steps (default 3000)")
    parser.add_argument("--schedule-steps", type=int, default=0,
                        help="length of the cosine decay in steps (default: --max-steps); set it to stop a run early "
                             "and --resume it later on the same learning-rate path")
    parser.add_argument("--max-tokens", type=int, default=6000, help="units per batch, padding counted (default 6000)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--warmup", type=int, default=300, help="warmup steps (default 300)")
    parser.add_argument("--val-every", type=int, default=500, help="validate every N steps (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    add_compute_arguments(parser)


def run(args: argparse.Namespace) -> int:
    apply_compute_arguments(args)
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from asr.data.lm_data import LMDataModule, read_sentences, refuse_held_out
    from asr.lm.io import save_lm
    from asr.lm.model import LMConfig
    from asr.model.io import load_model_file
    from asr.training.checkpoint_io import AtomicCheckpointIO
    from asr.training.lm_task import LMTask
    from asr.training.logs import RunCSVLogger
    from asr.training.resume import FinalCheckpoint, readable
    from asr.training.schedules import OptimConfig

    out = Path(args.out)
    exp = Path(args.exp_dir) if args.exp_dir else out.with_name(f"{out.stem}_train")
    ckpt_dir = exp / "checkpoints"
    ckpt_path = _resume_from(ckpt_dir, args.resume, readable)
    _, tokenizer, _ = load_model_file(args.units)
    sentences = read_sentences(args.text, args.manifest)
    refuse_held_out(sentences, args.held_out)
    data = LMDataModule(sentences, tokenizer, args.max_tokens, args.seed)
    d, h, n, f = SIZES[args.size]
    width = args.d_model or d
    cfg = LMConfig(tokenizer.vocab_size, width, h, args.layers or n, 4 * width if args.d_model else f, args.dropout)
    print(f"LM {args.size}: {cfg.layers} x {cfg.d_model}, {cfg.vocab_size} units; {len(data.train_ids):,} sentences "
          f"to train on, {len(data.valid_ids):,} held out; {args.max_steps} steps of <= {args.max_tokens} units",
          file=sys.stderr)
    L.seed_everything(args.seed, verbose=False)
    task = LMTask(cfg, OptimConfig(lr=args.lr, schedule="cosine", warmup_steps=args.warmup), args.seed,
                  args.schedule_steps)
    best = ModelCheckpoint(dirpath=ckpt_dir, monitor="val_loss", mode="min", save_top_k=1, save_last=True,
                           filename="step={step}-val_loss={val_loss:.4f}", auto_insert_metric_name=False,
                           enable_version_counter=False)
    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu", devices=1, max_steps=args.max_steps, max_epochs=-1,
        val_check_interval=min(args.val_every, len(data.train_sampler)), check_val_every_n_epoch=None,
        gradient_clip_val=5.0, num_sanity_val_steps=0, log_every_n_steps=20,
        callbacks=[best, FinalCheckpoint(ckpt_dir / "last.ckpt")],
        plugins=[AtomicCheckpointIO()], logger=RunCSVLogger(save_dir=str(exp), name="", version=""),
        default_root_dir=str(exp), enable_model_summary=False,
    )
    trainer.fit(task, datamodule=data, ckpt_path=ckpt_path)
    chosen = best.best_model_path or best.last_model_path
    if chosen:
        state = torch.load(chosen, map_location="cpu", weights_only=True)["state_dict"]
        task.load_state_dict(state)
    score = best.best_model_score
    val_loss = float(score) if score is not None else None
    meta = {"texts": [str(t) for t in args.text], "manifests": [str(m) for m in args.manifest],
            "sentences": len(sentences), "steps": int(trainer.global_step), "val_loss": val_loss,
            "checkpoint": str(chosen)}
    save_lm(out, task.lm, tokenizer, meta)
    ppl = f", validation perplexity {math.exp(val_loss):.2f} per unit" if val_loss is not None else ""
    print(f"wrote {out} ({trainer.global_step} steps{ppl})")
    return 0


def _resume_from(ckpt_dir: Path, resume: bool, readable) -> str | None:
    """The checkpoint to continue; None to start afresh. Refuses to start over an earlier run unasked."""
    found = sorted(ckpt_dir.glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True) if ckpt_dir.is_dir() else []
    if not resume:
        if found:
            raise UserError(f"{ckpt_dir} holds an earlier run's checkpoints; add --resume to continue it, or "
                            "give another --exp-dir")
        return None
    for path in found:
        if readable(path) is None:
            print(f"resuming from {path}", file=sys.stderr)
            return str(path)
    raise UserError(f"nothing to resume in {ckpt_dir}: no readable checkpoint; run without --resume to start")
