"""Usage:
    asr export exp/digits/checkpoints/last.ckpt --out exp/digits/model.pt
    asr export exp/digits/checkpoints/epoch=9*.ckpt exp/digits/checkpoints/epoch=8*.ckpt --out model.pt  # averaged

Writes one self-contained inference file (weights, model config, tokenizer, CMVN statistics) that loads with
`torch.load(..., weights_only=True)`; `asr transcribe` and `asr evaluate` take it.
"""

from __future__ import annotations

import argparse

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", help="Lightning checkpoint(s); several are averaged")
    parser.add_argument("--out", required=True, help="model file to write, e.g. exp/run/model.pt")


def run(args: argparse.Namespace) -> int:
    from asr.training.checkpoints import export  # torch loads only when the command runs

    model = export(args.checkpoints, args.out)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote model file {args.out} ({n / 1e6:.2f} M parameters) from {len(args.checkpoints)} checkpoint(s); "
          f"use it with asr transcribe --model {args.out} AUDIO")
    return 0
