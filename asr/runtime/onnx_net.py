"""An exported folder (`asr.runtime.export`) run by onnxruntime behind the interface the searches and the pipeline
use (`asr.model.network.Network`): `encode`, `ctc_log_probs`, `decoder.init_cache` / `decoder.step` /
`decoder(...)`, and for streams `features`, `cmvn`, `encoder.stride` / `encoder.forward_chunk`. Tensors go in and
come out as torch CPU tensors (numpy views, no copies), so the searches do not know which backend they run on.

    net, tokenizer, meta = load_onnx_folder("exp/an4/onnx", threads=1)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from asr.errors import UserError, brief
from asr.features import GlobalCMVN
from asr.model.attention import KVCache, key_padding_mask
from asr.model.config import ModelConfig
from asr.model.decoder import DecoderCache
from asr.model.encoder import EncoderCache
from asr.tokenizer import Tokenizer, tokenizer_from_state

Session = "onnxruntime.InferenceSession"
FORMAT = "asr-onnx/1"  # model.json's format (asr.runtime.export writes it)


def is_onnx_folder(path: str | Path) -> bool:
    return (Path(path) / "model.json").is_file()  # also asr.inference.transcriber.load_model's test


def load_onnx_folder(folder: str | Path, threads: int | None = None) -> tuple[OnnxNetwork, Tokenizer, dict]:
    """-> (the network on onnxruntime, tokenizer, the model file's meta). `threads`: onnxruntime's intra-op threads
    (default: torch's). Raises UserError for a folder that is not an export or when onnxruntime is missing."""
    folder = Path(folder)
    try:
        info = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{folder}: not an exported model folder ({brief(e)}); write one with "
                        f"`asr export MODEL.pt --format onnx --out {folder}`") from None
    if info.get("format") != FORMAT:
        raise UserError(f"{folder}/model.json is not an asr ONNX export (expected format {FORMAT}); "
                        f"export the model again with this version's `asr export --format onnx`")
    return OnnxNetwork(folder, info, threads), tokenizer_from_state(info["tokenizer"]), info.get("meta", {})


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise UserError("onnxruntime is not installed: `pip install asr[onnx]` (or onnxruntime) to run an "
                        "exported folder") from None
    return onnxruntime


def _np(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())


class OnnxNetwork:
    """The `Network` of an exported folder; inference only (eval mode, CPU)."""

    training = False
    device = torch.device("cpu")

    def __init__(self, folder: Path, info: dict, threads: int | None = None) -> None:
        ort = _ort()
        self.folder, self.info = folder, info
        self.cfg = ModelConfig.from_dict(info["config"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions = {}
        for name, g in info["graphs"].items():
            try:
                self.sessions[name] = ort.InferenceSession(str(folder / g["file"]), opts,
                                                           providers=["CPUExecutionProvider"])
            except Exception as e:  # noqa: BLE001 - a missing or damaged graph file
                raise UserError(f"{folder / g['file']}: onnxruntime cannot load it ({brief(e)}); export the "
                                f"model again") from None
        self.cmvn = GlobalCMVN(self.cfg.frontend.n_mels)
        self.cmvn.set_stats(torch.tensor(info["cmvn"]["mean"]), torch.tensor(info["cmvn"]["std"]))
        self.decoder = (OnnxDecoder(self.sessions["decoder_init"], self.sessions["decoder_step"], self.cfg)
                        if "decoder_step" in self.sessions else None)  # a partial export (tests) has no decoder
        self.encoder = OnnxEncoder(self.sessions.get("encoder_chunk"), self.cfg, tuple(info["stride"]))

    def _run(self, name: str, feeds: dict[str, Tensor | np.ndarray]) -> list[Tensor]:
        arrays = {k: v if isinstance(v, np.ndarray) else _np(v) for k, v in feeds.items()}
        return [torch.from_numpy(a) for a in self.sessions[name].run(None, arrays)]

    # the nn.Module surface the pipeline touches
    def eval(self) -> OnnxNetwork:
        return self

    def train(self, mode: bool = True) -> OnnxNetwork:
        if mode:
            raise UserError("an exported (ONNX) model cannot be trained; train the PyTorch model file")
        return self

    def parameters(self) -> Iterator[Tensor]:
        return iter(())

    def encode(self, wave: Tensor, wave_lens: Tensor, need_weights: bool = False, chunk: int = 0,
               left_chunks: int = -1) -> tuple[Tensor, Tensor, list[Tensor]]:
        """(B, S), (B,) -> encoder states (B, T', D), lengths (B,), [] (no attention weights in the graphs)."""
        if need_weights or chunk > 0:
            raise UserError("attention weights and chunk masks are not in the exported graphs; use the PyTorch "
                            "model file for attention pictures and masked (streaming-equivalent) encoding")
        enc, lens = self._run("encoder", {"wave": wave.float(), "wave_lens": wave_lens.long()})
        return enc, lens, []

    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """(B, T', D) -> (B, T', V) log-probabilities in fp32."""
        return self._run("ctc", {"enc": enc.float()})[0]

    def features(self, wave: Tensor, wave_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S), (B,) -> log-mel (B, T, F) before CMVN, frames (B,): `LogMel`'s."""
        feats, frames = self._run("features", {"wave": wave.float(), "wave_lens": wave_lens.long()})
        return feats, frames


class OnnxDecoder:
    """`Decoder`'s search surface on the decoder_init and decoder_step graphs; the cache is a `DecoderCache`."""

    def __init__(self, init: Session, step: Session, cfg: ModelConfig) -> None:
        self.init, self.step_graph = init, step
        self.layers, self.heads, self.d_k = cfg.dec_layers, cfg.heads, cfg.d_model // cfg.heads

    def init_cache(self, memory: Tensor, memory_lens: Tensor) -> DecoderCache:
        """Cross-attention keys/values once per utterance: memory (N, T', D)."""
        out = [torch.from_numpy(a) for a in self.init.run(None, {"memory": _np(memory.float())})]
        cross: list[KVCache] = [(out[2 * i], out[2 * i + 1]) for i in range(self.layers)]
        return DecoderCache([None] * self.layers, cross, key_padding_mask(memory_lens, memory.shape[1]))

    def step(self, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]:
        """The newest tokens (N, k) after the cached ones -> log-probabilities (N, V) of the next token, the cache."""
        log_probs, new = self._run(tokens, cache)
        return log_probs[:, -1], DecoderCache(new, cache.cross_kv, cache.memory_mask)

    def __call__(self, tokens: Tensor, memory: Tensor, memory_lens: Tensor, need_weights: bool = False
                 ) -> tuple[Tensor, list[Tensor]]:
        """Teacher forcing, as `Decoder.forward`: tokens (B, U) from <sos> -> log-probabilities (B, U, V) (logits up
        to a constant per row: the callers take log_softmax), []."""
        if need_weights:
            raise UserError("attention weights are not in the exported graphs; use the PyTorch model file")
        return self._run(tokens, self.init_cache(memory, memory_lens))[0], []

    def _run(self, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, list[KVCache]]:
        N = tokens.shape[0]
        empty = np.zeros((N, self.heads, 0, self.d_k), dtype=np.float32)
        feeds: dict[str, np.ndarray] = {"tokens": _np(tokens.long()), "memory_mask": _np(cache.memory_mask)}
        for i, (skv, ckv) in enumerate(zip(cache.self_kv, cache.cross_kv)):
            feeds[f"self_k_{i}"] = empty if skv is None else _np(skv[0])
            feeds[f"self_v_{i}"] = empty if skv is None else _np(skv[1])
            feeds[f"cross_k_{i}"], feeds[f"cross_v_{i}"] = _np(ckv[0]), _np(ckv[1])
        out = [torch.from_numpy(a) for a in self.step_graph.run(None, feeds)]
        return out[0], [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(self.layers)]


class OnnxEncoder:
    """`Encoder`'s streaming surface on the encoder_chunk graph (a model that streams; else only `stride`)."""

    def __init__(self, chunk: Session | None, cfg: ModelConfig, stride: tuple[int, int]) -> None:
        self.chunk, self.cfg, self._stride = chunk, cfg, stride
        self.layers, self.heads, self.d_k = cfg.enc_layers, cfg.heads, cfg.d_model // cfg.heads

    def stride(self) -> tuple[int, int]:
        return self._stride

    def forward_chunk(self, feats: Tensor, cache: EncoderCache | None, left_frames: int = -1
                      ) -> tuple[Tensor, EncoderCache]:
        """As `Encoder.forward_chunk`: feats (B, Tc, F) normalised -> states (B, c, D), the next cache."""
        if self.chunk is None:
            raise ValueError("this model does not stream chunk by chunk (no encoder_chunk graph in its export)")
        B, D = feats.shape[0], self.cfg.d_model
        feeds: dict[str, np.ndarray] = {"feats": _np(feats.float()),
                                        "offset": np.array(0 if cache is None else cache.offset, dtype=np.int64)}
        empty = np.zeros((B, self.heads, 0, self.d_k), dtype=np.float32)
        for i in range(self.layers):
            feeds[f"k_{i}"] = empty if cache is None else _np(cache.kv[i][0])
            feeds[f"v_{i}"] = empty if cache is None else _np(cache.kv[i][1])
        if self.cfg.conv_module:
            for i in range(self.layers):
                conv = None if cache is None else cache.conv[i]
                feeds[f"conv_{i}"] = (np.zeros((B, self.cfg.conv_kernel - 1, D), dtype=np.float32) if conv is None
                                      else _np(conv))
        out = [torch.from_numpy(a) for a in self.chunk.run(None, feeds)]
        states, L = out[0], self.layers
        keep = lambda t: t if left_frames < 0 else t[:, :, t.shape[2] - min(left_frames, t.shape[2]):]  # noqa: E731
        kv = tuple((keep(out[1 + 2 * i]), keep(out[2 + 2 * i])) for i in range(L))
        conv = tuple(out[1 + 2 * L:]) if self.cfg.conv_module else (None,) * L
        return states, EncoderCache(kv, conv, (0 if cache is None else cache.offset) + states.shape[1])
