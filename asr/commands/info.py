"""Usage:
    asr info exp/demo/model.pt
    asr info exp/demo/model.pt --json
    asr info exp/an4/onnx                     # a folder from `asr export --format onnx`: its graphs too

What a model file is: its network (size, front end), whether it streams chunk by chunk, then its card (asr/model/card.py): vocabulary, parameters,
training data and hours, steps, the model it was fine-tuned from, test results, recipe, code version, date, and
the vocabulary check's dev-set calibration. A file written before cards existed shows what the file itself tells
(network, vocabulary, parameters) and "unknown" for the rest.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file from `asr export` (or `asr average`), or a folder from "
                                      "`asr export --format onnx`")
    parser.add_argument("--json", action="store_true", help="print the card and the model config as one JSON object")


def run(args: argparse.Namespace) -> int:
    import json

    from asr.model.io import load_model_file, model_card
    from asr.runtime.onnx_net import is_onnx_folder, load_onnx_folder

    graphs = ""
    if is_onnx_folder(args.model):
        net, tokenizer, meta = load_onnx_folder(args.model, threads=1)
        card = model_card(net, tokenizer, meta)  # the exported card has its parameters and vocabulary
        size = sum((net.folder / g["file"]).stat().st_size for g in net.info["graphs"].values()) / 1e6
        graphs = (f"{', '.join(net.info['graphs'])} (opset {net.info['opset']}, "
                  f"{net.info.get('quantize') or 'fp32'}, {size:.1f} MB)")
    else:
        net, tokenizer, meta = load_model_file(args.model)
        card = model_card(net, tokenizer, meta)
    if args.json:
        print(json.dumps({"model": args.model, "config": net.cfg.to_dict(), "card": card.to_dict()}, indent=1))
        return 0
    print(f"model {'folder' if graphs else 'file'}: {args.model}")
    if graphs:
        print(f"onnx graphs: {graphs}")
    print(f"network: {network_line(net.cfg)}")
    print(f"streaming: {streaming_line(net.cfg)}")
    for line in card.lines():
        print(line)
    return 0


def network_line(cfg) -> str:
    """One line for a ModelConfig: sizes, subsampling, front end."""
    front = cfg.frontend
    band = f", up to {front.f_max:g} Hz" if front.f_max else ""
    conv = ", conv module" if cfg.conv_module else ""
    return (f"d_model {cfg.d_model}, {cfg.heads} heads, {cfg.enc_layers} encoder / {cfg.dec_layers} decoder layers, "
            f"feed-forward {cfg.ffn}{conv}, subsampling x{cfg.subsampling}; {front.n_mels} log-mels at "
            f"{front.sample_rate} Hz{band}")


def streaming_line(cfg) -> str:
    """Whether the network decodes chunk by chunk (`Transcriber.can_stream`'s conditions), and how it was trained."""
    if not cfg.streams:
        return "full context only (its conv module reads ahead, or relative positions or per-utterance CMN)"
    how = f"trained with dynamic chunks of 1-{cfg.max_chunk} encoder frames" if cfg.dynamic_chunk else \
        "not trained with chunk masks: expect chunked decoding to be worse than full context"
    return f"chunk by chunk (asr transcribe --streaming --chunk-ms N); {how}"
