"""One full training step on random log-mel input: forward, hybrid CTC + label-smoothed attention loss,
backward, gradient clipping at norm 5 (as the recipes train), AdamW step. The data pipeline is left out on
purpose: this times the model and the optimiser.

Reported: step_s_median and audio_seconds_per_second = B x T / 100 / step_s_median (100 frames per second).
"""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from asr.bench.common import Timings, autocast, base_record, compile_network, model_config, peak_rss_mb, run_timed
from asr.model import ASRModel
from asr.training.schedules import OptimConfig, adamw
from asr.tokenizer import SOS_EOS

FRAMES_PER_SECOND = 100
CLIP_NORM = 5.0  # conf/trainer/*.yaml clip at 5, as SpeechBrain's recipe does


def random_batch(batch: int, frames: int, tokens: int, n_mels: int, vocab: int, device: torch.device):
    """Full-length utterances: feats (B, T, F), lens (B,), targets (B, U) of non-special ids, target lens (B,)."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(batch, frames, n_mels, generator=g).to(device)
    lens = torch.full((batch,), frames, dtype=torch.long, device=device)
    targets = torch.randint(SOS_EOS + 2, vocab, (batch, tokens), generator=g).to(device)
    target_lens = torch.full((batch,), tokens, dtype=torch.long, device=device)
    return feats, lens, targets, target_lens


def prepare(args: argparse.Namespace, device: torch.device, compiled: bool = False
            ) -> tuple[Callable[[], object], int]:
    """Build the model (under torch.compile when `compiled`), optimiser and batch; return the step to time and
    the parameter count."""
    cfg = model_config(args)
    torch.manual_seed(0)
    model = ASRModel(cfg).to(device).train()
    if compiled:
        compile_network(model)
    opt = adamw(model, OptimConfig(lr=1e-4))  # the recipes' optimiser
    feats, lens, targets, target_lens = random_batch(
        args.batch, args.frames, args.tokens, cfg.frontend.n_mels, cfg.vocab_size, device
    )
    params = list(model.parameters())

    def step() -> None:
        with autocast(device, args.dtype):
            losses = model.forward_features(feats, lens, targets, target_lens)
        losses.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params)


def record(args: argparse.Namespace, device: torch.device, impl: str, params: int, times: Timings) -> dict:
    median = times.median
    rec = base_record(args, "train-step", device, impl)
    rec.update(
        size=args.size, params=params, vocab=args.vocab, batch=args.batch, frames=args.frames, tokens=args.tokens,
        **times.summary("step_s"),
        audio_seconds_per_second=round(args.batch * args.frames / FRAMES_PER_SECOND / median, 3),
        peak_rss_mb=round(peak_rss_mb(), 1),
    )
    if impl == "asr" and args.subsampling_channels is not None:
        rec["subsampling_channels"] = args.subsampling_channels
    if device.type == "cuda":
        rec["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return rec


def run(args: argparse.Namespace) -> dict | list[dict]:
    return run_timed(args, prepare, record)
