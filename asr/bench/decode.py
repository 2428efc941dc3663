"""Search speed: encoder forward plus greedy (--beam 1) or joint CTC/attention beam search, on random log-mel.

With random weights a search would stop at an arbitrary step, so <eos> is held off until exactly --tokens
tokens (`DecodeOptions.suppress_eos_until`): every run decodes the same number of steps.
Reported: audio_s = B x T / 100, decode_s_median (features -> token ids), rtf = decode_s_median / audio_s.
"""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from asr.bench.common import Timings, autocast, base_record, compile_network, model_config, run_timed
from asr.bench.train_step import FRAMES_PER_SECOND
from asr.decoding import DecodeOptions, beam_search, greedy_search
from asr.model import ASRModel


def options(args: argparse.Namespace) -> DecodeOptions:
    """--beam 1 is the attention decoder's greedy search (no CTC); otherwise the joint beam search."""
    ctc_weight = 0.0 if args.beam == 1 else args.ctc_weight
    return DecodeOptions(beam=args.beam, ctc_weight=ctc_weight, suppress_eos_until=args.tokens)


def prepare(args: argparse.Namespace, device: torch.device, compiled: bool = False
            ) -> tuple[Callable[[], object], int]:
    """Build the model (under torch.compile when `compiled`) and a batch; return the decode to time and the
    parameter count."""
    cfg = model_config(args)
    torch.manual_seed(0)
    model = ASRModel(cfg).to(device).eval()
    if compiled:
        compile_network(model)
    opts = options(args)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(args.batch, args.frames, cfg.frontend.n_mels, generator=g).to(device)  # (B, T, F)
    lens = torch.full((args.batch,), args.frames, dtype=torch.long, device=device)

    @torch.no_grad()
    def step() -> list[list[int]]:
        with autocast(device, args.dtype):
            enc, enc_lens, _ = model.encoder(feats, lens)  # (B, T', D)
            if opts.beam == 1:
                hyps = greedy_search(model, enc, enc_lens, opts)
            else:
                hyps = [h[0].tokens for h in beam_search(model, enc, enc_lens, opts)]
        if any(len(h) != args.tokens for h in hyps):  # the benchmark's premise; cheap to check every run
            raise RuntimeError(f"decoded {[len(h) for h in hyps]} tokens, expected {args.tokens} each")
        return hyps

    return step, sum(p.numel() for p in model.parameters())


def record(args: argparse.Namespace, device: torch.device, impl: str, params: int, times: Timings) -> dict:
    median = times.median
    audio_s = args.batch * args.frames / FRAMES_PER_SECOND
    rec = base_record(args, "decode", device, impl)
    rec.update(
        size=args.size, params=params, vocab=args.vocab, beam=args.beam, batch=args.batch,
        ctc_weight=0.0 if args.beam == 1 else args.ctc_weight, frames=args.frames, tokens=args.tokens,
        audio_s=audio_s, **times.summary("decode_s"), rtf=round(median / audio_s, 6),
    )
    return rec


def run(args: argparse.Namespace) -> dict | list[dict]:
    return run_timed(args, prepare, record)
