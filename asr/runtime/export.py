"""Write a model as ONNX graphs and a JSON of everything else: an exported folder (`asr export --format onnx`).

    export_onnx(net, tokenizer, meta, "exp/an4/onnx")                 # fp32
    export_onnx(net, tokenizer, meta, "exp/an4/onnx-int8", quantize="int8")

The folder: encoder.onnx, ctc.onnx, decoder_init.onnx, decoder_step.onnx, features.onnx and, for a model that
streams, encoder_chunk.onnx (`asr.runtime.graphs`), and model.json (format, opset, model config, tokenizer, CMVN
statistics, the model file's meta and card, the graphs' inputs and outputs). Each graph is traced once by
`torch.onnx.export(dynamo=True)` with dynamic batch, time and cache axes, then `onnx.checker` runs over it.
`quantize="int8"`: onnxruntime's dynamic quantisation (int8 weights of the matmuls, activations quantised per
call) of the graphs with weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.export import Dim

from asr.errors import UserError
from asr.model.asr_model import ASRModel
from asr.model.card import ModelCard
from asr.model.io import count_parameters, vocabulary
from asr.runtime.graphs import (CTCGraph, DecoderInitGraph, DecoderStepGraph, EncoderChunkGraph, EncoderGraph,
                                FeaturesGraph, for_export)
from asr.runtime.onnx_net import FORMAT
from asr.tokenizer import Tokenizer

OPSET = 18
QUANTIZE = ("int8",)
QUANTIZED_GRAPHS = ("encoder", "ctc", "decoder_init", "decoder_step", "encoder_chunk")  # those with weights


@dataclass(frozen=True)
class GraphSpec:
    name: str
    module: nn.Module
    args: tuple[Tensor, ...]
    inputs: list[str]
    outputs: list[str]
    dynamic: tuple  # per argument: {axis: Dim}; a tuple of them for the *cache arguments


def graph_specs(net: ASRModel) -> list[GraphSpec]:
    """The graphs of `net` with example inputs (sizes >= 2 on every dynamic axis: export specialises 0 and 1)."""
    cfg = net.cfg
    D, H, L, Ld = cfg.d_model, cfg.heads, cfg.enc_layers, cfg.dec_layers
    dk = D // H
    B, S, N, T, U, K, C = (Dim("batch"), Dim("samples", min=1), Dim("hyps"), Dim("enc_frames"),
                           Dim("past_tokens", min=0), Dim("new_tokens", min=1), Dim("cached_frames", min=0))
    wave, wave_lens = torch.randn(2, 16000) * 0.1, torch.tensor([16000, 12000])
    memory = torch.randn(3, 11, D)
    self_kv = [torch.randn(3, H, 4, dk) for _ in range(2 * Ld)]
    cross_kv = [torch.randn(3, H, 11, dk) for _ in range(2 * Ld)]
    mask = torch.ones(3, 1, 1, 11, dtype=torch.bool)
    specs = [
        GraphSpec("encoder", EncoderGraph(net), (wave, wave_lens), ["wave", "wave_lens"], ["enc", "enc_lens"],
                  ({0: B, 1: S}, {0: B})),
        GraphSpec("ctc", CTCGraph(net), (torch.randn(2, 7, D),), ["enc"], ["log_probs"], ({0: B, 1: T},)),
        GraphSpec("decoder_init", DecoderInitGraph(net.decoder), (memory,), ["memory"], _kv_names("cross", Ld),
                  ({0: N, 1: T},)),
        GraphSpec("decoder_step", DecoderStepGraph(net.decoder), (torch.tensor([[5, 6]] * 3), mask, *self_kv, *cross_kv),
                  ["tokens", "memory_mask", *_kv_names("self", Ld), *_kv_names("cross", Ld)],
                  ["log_probs", *_kv_names("new_self", Ld)],
                  ({0: N, 1: K}, {0: N, 3: T}, (*[{0: N, 2: U}] * (2 * Ld), *[{0: N, 2: T}] * (2 * Ld)))),
        GraphSpec("features", FeaturesGraph(net), (wave, wave_lens), ["wave", "wave_lens"], ["feats", "frames"],
                  ({0: B, 1: S}, {0: B})),
    ]
    if cfg.streams:
        stride, field = net.encoder.stride()
        convs = [b.conv.dw.kernel_size[0] - 1 for b in net.encoder.blocks if b.conv is not None]
        kv = [torch.randn(2, H, 5, dk) for _ in range(2 * L)]
        conv = [torch.randn(2, k, D) for k in convs]
        feats = torch.randn(2, 3 * stride + field, cfg.frontend.n_mels)
        specs.append(GraphSpec(
            "encoder_chunk", EncoderChunkGraph(net.encoder), (feats, torch.tensor(4), *kv, *conv),
            ["feats", "offset", *_kv_names("", L), *[f"conv_{i}" for i in range(len(conv))]],
            ["states", *_kv_names("new", L), *[f"new_conv_{i}" for i in range(len(conv))]],
            ({0: B, 1: Dim("chunk_feats", min=field)}, None, (*[{0: B, 2: C}] * (2 * L), *[{0: B}] * len(conv))),
        ))
    return specs


def _kv_names(prefix: str, layers: int) -> list[str]:
    p = f"{prefix}_" if prefix else ""
    return [f"{p}{kv}_{i}" for i in range(layers) for kv in ("k", "v")]


def export_onnx(net: ASRModel, tokenizer: Tokenizer, meta: dict, out: str | Path, quantize: str | None = None,
                opset: int = OPSET, progress: Callable[[str], None] = print, only: set[str] | None = None) -> dict:
    """Export `net` (any device; exported from a CPU copy in fp32) into the folder `out`; returns model.json's dict.
    `progress` gets one line per graph; `only`: these graphs (tests), not all."""
    import onnx

    if quantize is not None and quantize not in QUANTIZE:
        raise UserError(f"--quantize {quantize}: unknown; choose one of {', '.join(QUANTIZE)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cpu = ASRModel(net.cfg)
    cpu.load_state_dict({k: v.detach().cpu().float() for k, v in net.state_dict().items()})
    net = for_export(cpu.eval())
    graphs = {}
    for spec in graph_specs(net):
        if only is not None and spec.name not in only:
            continue
        started = time.perf_counter()
        path = out / f"{spec.name}.onnx"
        log = io.StringIO()  # the exporter's own progress lines: shown only when it fails
        try:
            with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(log), _quiet_logs():
                warnings.simplefilter("ignore")
                torch.onnx.export(spec.module, spec.args, str(path), dynamo=True, opset_version=opset,
                                  input_names=spec.inputs, output_names=spec.outputs, dynamic_shapes=spec.dynamic,
                                  optimize=True, verbose=False, external_data=False)
        except Exception:
            print(log.getvalue(), file=sys.stderr)
            raise
        onnx.checker.check_model(str(path), full_check=True)
        if quantize == "int8" and spec.name in QUANTIZED_GRAPHS:
            _quantize_int8(path, path)
        graphs[spec.name] = {"file": path.name, "inputs": spec.inputs, "outputs": spec.outputs}
        progress(f"  {spec.name}.onnx  {path.stat().st_size / 1e6:.2f} MB  ({time.perf_counter() - started:.0f} s)")
    card = ModelCard.of(meta)
    if card.parameters is None or card.vocabulary is None:
        card = card.completed(count_parameters(net), vocabulary(tokenizer))
    info = {
        "format": FORMAT, "opset": opset, "quantize": quantize, "torch": torch.__version__,
        "config": net.cfg.to_dict(), "tokenizer": tokenizer.state(),
        "cmvn": {"mean": net.cmvn.mean.tolist(), "std": net.cmvn.std.tolist()},
        "stride": list(net.encoder.stride()), "graphs": graphs, "meta": {**meta, "card": card.to_dict()},
    }
    (out / "model.json").write_text(json.dumps(info, indent=1, default=str))
    return info


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """The exporter's and the quantiser's log lines (torchvision ops it skips, a pre-processing hint) are not the
    user's business: errors only, while they run."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def quantize_folder(src: str | Path, out: str | Path) -> dict:
    """An exported fp32 folder -> its int8 twin in `out` (what `quantize="int8"` writes): the same graphs with
    dynamically quantised weights, model.json saying so."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info = json.loads((src / "model.json").read_text())
    for name, g in info["graphs"].items():
        target = out / g["file"]
        if name in QUANTIZED_GRAPHS:
            _quantize_int8(src / g["file"], target)
        else:
            target.write_bytes((src / g["file"]).read_bytes())
    info["quantize"] = "int8"
    (out / "model.json").write_text(json.dumps(info, indent=1))
    return info


# Left in fp32: the front-end (the DFT and the mel filterbank: activations quantised to 8 bits per tensor cannot
# hold a power spectrum's range; AN4 came out empty) and attention's two activation-by-activation products.
KEEP_FP32_SCOPES = ("features", "scaled_dot_product_attention")


def _quantize_int8(path: Path, out: Path) -> None:
    """onnxruntime's dynamic quantisation of the weight matmuls (int8 weights, uint8 activations per call)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = [n.name for n in onnx.load(str(path)).graph.node
            if any(s in p.value for p in n.metadata_props if p.key == "pkg.torch.onnx.name_scopes"
                   for s in KEEP_FP32_SCOPES)]
    tmp = out.with_suffix(".tmp.onnx")
    with _quiet_logs():
        quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                         nodes_to_exclude=keep)
    tmp.replace(out)
