"""Subcommands of `asr`: each module has `add_arguments(parser)` and `run(args) -> int`.

The arguments several commands share are built here, with their defaults read from the option dataclasses
(torch-free modules), so a default is defined once: search settings in `asr.decoding.options.DecodeOptions`,
batching/precision in `asr.inference.options.TranscribeOptions`, segmentation in `SegmentOptions`.
"""

from __future__ import annotations

import argparse
import sys

from asr.decoding.options import SEARCHES, DecodeOptions
from asr.hardware import native_bf16_cpu
from asr.inference.options import PRECISIONS, TranscribeOptions

DEVICES = ("cpu", "cuda")


def add_compute_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --threads: the same two flags, with the same meaning, on every command that computes."""
    parser.add_argument("--device", default="cpu", choices=DEVICES, help="where the network runs (default cpu)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch (default: torch's choice, one per core); 1 on a busy machine")


def apply_compute_arguments(args: argparse.Namespace) -> None:
    """Set torch's thread count from --threads (imports torch: call it when the command runs)."""
    from asr.errors import UserError

    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


def add_decode_arguments(parser: argparse.ArgumentParser, batch_help: str = "segments decoded together") -> None:
    """--beam, --ctc-weight, --search, --batch-size, --precision: the decoding policy's settings."""
    d, t = DecodeOptions(), TranscribeOptions()
    parser.add_argument("--beam", type=int, default=d.beam, help=f"beam size; 1 = greedy (default {d.beam})")
    parser.add_argument("--ctc-weight", type=float, default=d.ctc_weight,
                        help=f"weight of CTC prefix scores in the joint score, 0-1 (default {d.ctc_weight})")
    parser.add_argument("--search", default=d.search, choices=SEARCHES,
                        help="joint: beam search on the joint CTC/attention score; rescore: CTC prefix beam "
                             "search, then the joint score picks among its --beam best (robust on long "
                             "segments); greedy: the decoder's best token per step "
                             f"(default {d.search})")
    parser.add_argument("--batch-size", type=int, default=t.batch_size, help=f"{batch_help} (default {t.batch_size})")
    parser.add_argument("--precision", default=t.precision, choices=PRECISIONS,
                        help="bf16: encoder and decoder matmuls in bfloat16 (torch.autocast), scores in fp32; "
                             f"several times faster on CPUs with AVX512-BF16 or AMX and on GPUs (default {t.precision})")


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    return DecodeOptions(search=args.search, beam=args.beam, ctc_weight=args.ctc_weight)


def warn_if_precision_is_slow(args: argparse.Namespace) -> None:
    """One line on stderr when --precision bf16 would run slower than fp32 (a CPU that emulates bf16)."""
    if args.precision == "bf16" and args.device == "cpu" and not native_bf16_cpu():
        print("warning: this CPU has no native bf16 (AVX512-BF16 or AMX), so --precision bf16 is emulated and "
              "slower than fp32; leave it out here", file=sys.stderr)
