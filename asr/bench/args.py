"""`asr bench`'s shared command-line arguments. No torch import here: `asr --help` builds every parser."""

from __future__ import annotations

import argparse

SIZES = ("tiny", "small", "base", "large")
# Explicit model flags -> ModelConfig fields; each overrides the one from --size.
MODEL_FLAGS = {
    "d_model": "d_model", "heads": "heads", "enc_layers": "enc_layers", "dec_layers": "dec_layers", "ffn": "ffn",
    "subsampling_channels": "subsampling_channels",
}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--size", choices=SIZES, default="base", help="a size from conf/model/ (default: base)")
    for flag in MODEL_FLAGS:
        g.add_argument(f"--{flag.replace('_', '-')}", type=int, default=None, help=f"override {flag} of --size")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any model key of --size, value as in YAML (repeatable): --set pos_enc=rel")
    g.add_argument("--vocab", type=int, default=5000, help="output tokens V (default 5000, SpeechBrain's LibriSpeech)")


def add_timing_arguments(parser: argparse.ArgumentParser, steps: int, warmup: int) -> None:
    g = parser.add_argument_group("timing")
    g.add_argument("--steps", type=int, default=steps, help=f"timed runs; the median is reported (default {steps})")
    g.add_argument("--warmup", type=int, default=warmup, help=f"untimed runs first (default {warmup})")
    g.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    g.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    g.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: torch.autocast (GPUs, CPUs with AVX512-BF16 or AMX); default fp32")
    g.add_argument("--compile", action="store_true",
                   help="also time the model under torch.compile (encoder and decoder, dynamic shapes), taking "
                        "turns with eager in one run: two records, the compiled one with its speed-up and compile "
                        "time")
    g.add_argument("--json", metavar="FILE", help="also append each JSON line to FILE")
