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
from asr.inference.options import PRECISIONS, StreamOptions, TranscribeOptions

DEVICES = ("cpu", "cuda")


def add_compute_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --threads: the same two flags, with the same meaning, on every command that computes."""
    parser.add_argument("--device", default="cpu", choices=DEVICES, help="where the network runs (default cpu)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch (default: torch's choice, one per core); 1 on a busy machine")


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """--backend: which runtime runs --model (a PyTorch model file, or a folder from `asr export --format onnx`)."""
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                        help="torch: a model file; onnxruntime: a folder from `asr export --format onnx` "
                             "(pip install asr[onnx]); auto: by what --model is (default auto)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the encoder (PyTorch backend, dynamic shapes): its first batch waits "
                             "~1-2 minutes for compilation on a CPU, so it pays on long jobs only "
                             "(docs/performance.md)")


def add_task_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=("transcribe", "translate"), default=None,
                        help="translate: a speech-translation model's translation; transcribe: the transcript (of a "
                             "translation model: its CTC head's, in the source language) (default: the task the "
                             "model file records)")


def apply_compute_arguments(args: argparse.Namespace) -> None:
    """Set torch's thread count from --threads (imports torch: call it when the command runs)."""
    from asr.errors import UserError

    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


def add_decode_arguments(parser: argparse.ArgumentParser, batch_help: str | None = "segments decoded together") -> None:
    """--beam, --ctc-weight, --search, --plain-search, --batch-size, --precision and the fusion flags (--lm,
    --ngram, --hotwords and their weights): the decoding policy's settings. batch_help=None leaves --batch-size
    out."""
    d, t = DecodeOptions(), TranscribeOptions()
    parser.add_argument("--beam", type=int, default=d.beam, help=f"beam size; 1 = greedy (default {d.beam})")
    parser.add_argument("--ctc-weight", type=float, default=d.ctc_weight,
                        help=f"weight of CTC prefix scores in the joint score, 0-1 (default {d.ctc_weight})")
    parser.add_argument("--search", default=d.search, choices=SEARCHES,
                        help="joint: beam search on the joint CTC/attention score; rescore: CTC prefix beam "
                             "search, then the joint score picks among its --beam best (robust on long "
                             "segments); greedy: the decoder's best token per step "
                             f"(default {d.search})")
    parser.add_argument("--plain-search", action="store_true",
                        help="the search's own output, ESPnet's plain joint CTC/attention beam search: no "
                             "repetition stop, no loop guard and no search-error check replacing its hypotheses "
                             f"(default: guards on: {', '.join(d.guards)})")
    if batch_help is not None:
        parser.add_argument("--batch-size", type=int, default=t.batch_size,
                            help=f"{batch_help} (default {t.batch_size})")
    parser.add_argument("--precision", default=t.precision, choices=PRECISIONS,
                        help="bf16: encoder and decoder matmuls in bfloat16 (torch.autocast), scores in fp32; "
                             f"several times faster on CPUs with AVX512-BF16 or AMX and on GPUs (default {t.precision})")


    fusion = parser.add_argument_group("language models and hotwords (shallow fusion; see `asr tune-lm`)")
    fusion.add_argument("--lm", help="transformer LM file from `asr train-lm`, on the model's units")
    fusion.add_argument("--lm-weight", type=float, default=d.lm_weight,
                        help=f"weight of the LM's log-probabilities with --lm (default {d.lm_weight})")
    fusion.add_argument("--ngram", help="word n-gram: an ARPA file (.arpa or .arpa.gz) or a KenLM binary, queried "
                                        "with KenLM (bounded memory), scored at word ends")
    fusion.add_argument("--ngram-weight", type=float, default=d.ngram_weight,
                        help=f"weight of the n-gram's log-probabilities with --ngram (default {d.ngram_weight})")
    fusion.add_argument("--length-bonus", type=float, default=d.length_bonus,
                        help=f"added per output unit, against an LM's pull to short outputs (default {d.length_bonus})")
    fusion.add_argument("--hotwords", help="text file, one phrase a line (optionally ' : BONUS'), to bias towards")
    fusion.add_argument("--hotword-bonus", type=float, default=t.hotword_bonus,
                        help=f"bonus per matched unit of a phrase without its own (default {t.hotword_bonus})")


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    """The DecodeOptions of the flags a command has (those it lacks keep their defaults)."""
    d = DecodeOptions()
    names = ("search", "beam", "ctc_weight", "lm_weight", "ngram_weight", "length_bonus")
    opts = DecodeOptions(**{n: getattr(args, n, getattr(d, n)) for n in names})
    return opts.plain() if getattr(args, "plain_search", False) else opts


def fusion_files(args: argparse.Namespace) -> dict:
    """TranscribeOptions' fusion fields from --lm, --ngram, --hotwords and --hotword-bonus."""
    return {"lm": args.lm, "ngram": args.ngram, "hotwords": args.hotwords, "hotword_bonus": args.hotword_bonus}


def warn_if_precision_is_slow(args: argparse.Namespace) -> None:
    """One line on stderr when --precision bf16 would run slower than fp32 (a CPU that emulates bf16)."""
    if args.precision == "bf16" and args.device == "cpu" and not native_bf16_cpu():
        print("warning: this CPU has no native bf16 (AVX512-BF16 or AMX), so --precision bf16 is emulated and "
              "slower than fp32; leave it out here", file=sys.stderr)


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """--streaming, --chunk-ms, --left-chunks: each file fed to a stream as it would arrive live."""
    d = StreamOptions()
    parser.add_argument("--streaming", action="store_true",
                        help="decode each file as a live stream: chunk by chunk, final text at each endpoint")
    parser.add_argument("--chunk-ms", type=float, default=d.chunk_ms,
                        help=f"with --streaming: the encoder's chunk in ms (default {d.chunk_ms:g}; 0: full context)")
    parser.add_argument("--left-chunks", type=int, default=d.left_chunks,
                        help="with --streaming: chunks to the left each chunk sees (default: all of the segment)")
    parser.add_argument("--final", choices=("search", "rescore"), default=d.final,
                        help="with --streaming: the final text by the search over the streamed encoder states "
                             "(default), or by rescoring the streaming CTC search's n-best (WeNet's runtime)")


def stream_options(args: argparse.Namespace) -> StreamOptions | None:
    """StreamOptions from --streaming / --chunk-ms / --left-chunks; None without --streaming."""
    return StreamOptions(args.chunk_ms, args.left_chunks, args.final) if args.streaming else None
