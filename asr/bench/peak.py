"""How close the encoder runs to this machine's limit: matrix-multiply GFLOP/s measured in this process (in
bf16 with `--dtype bf16`, fp32 otherwise),
against the encoder forward's achieved GFLOP/s (its FLOPs counted by torch's FlopCounterMode: matmuls,
convolutions, attention) at the chosen size, batch and frames.

FlopCounterMode knows the GPU attention kernels but not the CPU one (`_scaled_dot_product_flash_attention_for_cpu`
counted 0 FLOPs in torch 2.11): the count adds it with torch's own formula, so the fused kernel counts what the
explicit matmuls (`need_weights=True`) count.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from asr.bench.common import autocast, base_record, time_runs, model_config, setup
from asr.model import ASRModel


def count_flops(forward) -> int:
    """FLOPs of one call of `forward`, the CPU attention kernel included."""
    cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops}
    counter = FlopCounterMode(display=False, custom_mapping=cpu_attention)
    with counter:
        forward()
    return counter.get_total_flops()


def _attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)  # QK^T and the weights times V, from the (B, H, T, d) shapes


def matmul_gflops(n: int, steps: int, warmup: int, device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """Best sustained GFLOP/s of an (n x n) @ (n x n) product in `dtype`."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    median = time_runs(lambda: a @ b, steps, warmup, device).median
    return 2 * n**3 / median / 1e9


def run(args: argparse.Namespace) -> dict:
    device = setup(args)
    cfg = model_config(args)
    torch.manual_seed(0)
    encoder = ASRModel(cfg).encoder.to(device).eval()
    feats = torch.randn(args.batch, args.frames, cfg.frontend.n_mels, device=device)  # (B, T, F)
    lens = torch.full((args.batch,), args.frames, dtype=torch.long, device=device)

    @torch.no_grad()
    def forward() -> object:
        with autocast(device, args.dtype):
            return encoder(feats, lens)

    flops = count_flops(forward)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    peak = matmul_gflops(args.matmul, args.steps, args.warmup, device, dtype)
    median = time_runs(forward, args.steps, args.warmup, device).median
    achieved = flops / median / 1e9
    rec = base_record(args, "peak", device)
    rec.update(
        size=args.size, batch=args.batch, frames=args.frames, matmul_n=args.matmul,
        matmul_gflops=round(peak, 2), encoder_gflop=round(flops / 1e9, 3), encoder_s_median=round(median, 5),
        encoder_gflops=round(achieved, 2), fraction_of_peak=round(achieved / peak, 3),
    )
    return rec
