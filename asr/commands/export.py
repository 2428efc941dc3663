"""Usage:
    asr export exp/digits/checkpoints/last.ckpt --out exp/digits/model.pt
    asr export exp/digits/checkpoints/epoch=9*.ckpt exp/digits/checkpoints/epoch=8*.ckpt --out model.pt  # averaged
    asr export exp/an4/model.pt --format onnx --out exp/an4/onnx                 # ONNX graphs for onnxruntime
    asr export exp/an4/model.pt --format onnx --quantize int8 --out exp/an4/onnx-int8

--format pt (default) writes one self-contained inference file (weights, model config, tokenizer, CMVN
statistics) that loads with `torch.load(..., weights_only=True)`; `asr transcribe` and `asr evaluate` take it.
--format onnx writes a folder of ONNX graphs (encoder with the log-mel front-end, CTC, the decoder's first
and next steps with their key/value caches, and for a streaming model the encoder's chunk step) and model.json
(config, tokenizer, CMVN statistics, card); `asr transcribe|evaluate|serve --model FOLDER` run it on onnxruntime
(`pip install asr[onnx]`), with the same searches and the same output. From a model file or checkpoints.
"""

from __future__ import annotations

import argparse

FORMATS = ("pt", "onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+",
                        help="Lightning checkpoint(s) (several are averaged), or with --format onnx a model file")
    parser.add_argument("--out", required=True, help="model file to write (exp/run/model.pt); with --format onnx "
                                                     "a folder (exp/run/onnx)")
    parser.add_argument("--format", default="pt", choices=FORMATS,
                        help="pt: one PyTorch model file; onnx: ONNX graphs for onnxruntime (default pt)")
    parser.add_argument("--quantize", default=None, choices=("int8",),
                        help="with --format onnx: dynamically quantised int8 weights (smaller, faster on a CPU)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")


def run(args: argparse.Namespace) -> int:
    from asr.errors import UserError

    if args.format == "pt":
        if args.quantize or args.opset:
            raise UserError("--quantize and --opset are for --format onnx")
        from asr.training.checkpoints import export  # torch loads only when the command runs

        model = export(args.checkpoints, args.out)
        n = sum(p.numel() for p in model.parameters())
        print(f"wrote model file {args.out} ({n / 1e6:.2f} M parameters) from {len(args.checkpoints)} checkpoint(s); "
              f"use it with asr transcribe --model {args.out} AUDIO")
        return 0
    return _onnx(args)


def _onnx(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    from asr.errors import UserError
    from asr.model.io import load_model_file
    from asr.runtime.export import OPSET, export_onnx

    if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript")):
        raise UserError("--format onnx needs onnx and onnxscript: `pip install asr[onnx]`")
    paths = args.checkpoints
    if len(paths) == 1 and not paths[0].endswith(".ckpt"):
        net, tokenizer, meta = load_model_file(paths[0])
    else:
        from asr.training.checkpoints import from_checkpoints

        net, tokenizer, meta, card = from_checkpoints(paths)
        meta = {**meta, "card": card.to_dict()}
    out = Path(args.out)
    if out.suffix == ".pt" or out.is_file():
        raise UserError(f"--out {out}: --format onnx writes a folder; give a folder path, e.g. {out.with_suffix('')}")
    print(f"exporting {', '.join(paths)} to {out}/ (opset {args.opset or OPSET}"
          f"{', int8' if args.quantize else ''}):")
    info = export_onnx(net, tokenizer, meta, out, quantize=args.quantize, opset=args.opset or OPSET)
    size = sum((out / g["file"]).stat().st_size for g in info["graphs"].values())
    print(f"wrote {len(info['graphs'])} graphs ({size / 1e6:.1f} MB) and model.json to {out}; use it with "
          f"asr transcribe --model {out} AUDIO")
    return 0
