"""Eager PyTorch against onnxruntime (fp32 and int8) on the same model, in one run:

  network   random audio of --seconds per utterance, batch B: the encoder (log-mel inside) and --tokens greedy
            decoder steps (<eos> held off, so every backend decodes the same steps); RTF = median time / audio,
            per backend x batch x threads, and eager / onnxruntime as a ratio
  pipeline  with --manifest: `asr evaluate`'s decoding of the test set (segmenting, joint beam search, CTC prefix
            scores, text) per backend: WER and RTF, so int8's WER change is measured where it matters
  memory    peak resident memory of a fresh process that loads the backend and decodes one batch
  files     the size of each backend's weights on disk

    asr bench onnx --model exp/an4/model.pt --manifest data/an4/test_cuts.jsonl.gz
    asr bench onnx --size small --vocab 5000 --batch 1,16 --threads 1,2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr.bench.common import Timings, model_config, peak_rss_mb, progress
from asr.decoding.greedy import greedy_search
from asr.decoding.options import DecodeOptions
from asr.errors import UserError
from asr.hardware import cpu_model
from asr.model import ASRModel
from asr.model.io import load_model_file
from asr.model.network import Network
from asr.tokenizer import SPECIALS, TableTokenizer, Tokenizer

SR = 16_000


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{flag} {text}: expected comma-separated integers, e.g. 1,16") from None
    if min(values) < 1:
        raise UserError(f"{flag} values must be at least 1")
    return values


def source(args: argparse.Namespace) -> tuple[ASRModel, Tokenizer, dict, str]:
    """(network, tokenizer, meta, name): --model's, or --size with random weights and a stand-in vocabulary."""
    if args.model:
        net, tok, meta = load_model_file(args.model)
        return net, tok, meta, args.model
    torch.manual_seed(0)
    cfg = model_config(args)
    tok = TableTokenizer("word", [f"w{i}" for i in range(cfg.vocab_size - len(SPECIALS))])
    return ASRModel(cfg).eval(), tok, {}, f"{args.size} (random weights)"


def export_both(net: ASRModel, tok: Tokenizer, meta: dict, out: Path) -> dict[str, dict]:
    """fp32 and int8 folders under `out`; -> backend -> {path, export_s, mb}."""
    from asr.runtime.export import export_onnx, quantize_folder

    t = time.perf_counter()
    export_onnx(net, tok, meta, out / "fp32", progress=lambda line: progress(f"fp32 {line.strip()}"))
    fp32_s = time.perf_counter() - t
    t = time.perf_counter()
    quantize_folder(out / "fp32", out / "int8")
    int8_s = time.perf_counter() - t
    mb = lambda d: round(sum(f.stat().st_size for f in d.glob("*.onnx")) / 1e6, 2)  # noqa: E731
    return {"onnxruntime": {"path": out / "fp32", "export_s": round(fp32_s, 1), "mb": mb(out / "fp32")},
            "onnxruntime-int8": {"path": out / "int8", "export_s": round(fp32_s + int8_s, 1), "mb": mb(out / "int8")}}


def network_step(net: Network, batch: int, seconds: float, tokens: int):
    """The timed unit: encoder + `tokens` greedy decoder steps on fixed random audio."""
    g = torch.Generator().manual_seed(0)
    wave = torch.randn(batch, round(seconds * SR), generator=g) * 0.1
    lens = torch.full((batch,), wave.shape[1], dtype=torch.long)
    opts = DecodeOptions(beam=1, ctc_weight=0.0, suppress_eos_until=tokens)

    @torch.no_grad()
    def step() -> None:
        enc, enc_lens, _ = net.encode(wave, lens)
        hyps = greedy_search(net, enc, enc_lens, opts)
        if any(len(h) != tokens for h in hyps):
            raise RuntimeError(f"decoded {[len(h) for h in hyps]} tokens, expected {tokens}")

    return step


def time_network(nets: dict[str, Network], batch: int, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds per backend, the backends' runs interleaved so that a busy spell hits them alike."""
    steps = {name: network_step(net, batch, args.seconds, args.tokens) for name, net in nets.items()}
    for fn in steps.values():
        for _ in range(args.warmup):
            fn()
    timings = {name: Timings() for name in nets}
    for _ in range(args.steps):
        for name, fn in steps.items():
            timings[name].add(fn, torch.device("cpu"))
    return {name: t.median for name, t in timings.items()}


def load_backend(name: str, model: str | Path, threads: int):
    from asr.inference.transcriber import Transcriber, load_model
    from asr.runtime.onnx_net import load_onnx_folder

    if name == "torch":
        return load_model(model)
    net, tok, meta = load_onnx_folder(model, threads=threads)
    return Transcriber(net, tok, meta, name=str(model))


def pipeline(args: argparse.Namespace, paths: dict[str, Path], threads: int) -> list[dict]:
    """`asr evaluate` per backend on --manifest: WER and RTF at --pipeline-batch."""
    from asr.data.manifests import load_cuts
    from asr.inference.evaluation import evaluate
    from asr.inference.options import TranscribeOptions

    cuts = load_cuts(args.manifest)
    out = []
    for batch in _ints(args.pipeline_batch, "--pipeline-batch"):
        opts = TranscribeOptions(decode=DecodeOptions(beam=args.beam), batch_size=batch, word_timestamps=False)
        for name, path in paths.items():
            torch.set_num_threads(threads)
            model = load_backend(name, path, threads)
            progress(f"pipeline: {name}, batch {batch}, {threads} thread(s)")
            ev = evaluate(model, cuts, opts)
            c = ev.counts
            out.append({"backend": name, "batch": batch, "threads": threads, "beam": args.beam,
                        "utterances": len(ev.utterances), "words": c.words, "wer": round(100 * c.wer, 2),
                        "rtf": round(ev.rtf, 4)})
    return out


def peak_memory(name: str, path: Path, batch: int, seconds: float, tokens: int) -> float:
    """Peak RSS (MB) of a fresh process that loads `path` on backend `name` and runs one network step."""
    code = ("import sys, torch; torch.set_num_threads(1); from asr.bench.onnx import _peak_child; "
            f"_peak_child({name!r}, {str(path)!r}, {batch}, {seconds}, {tokens})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the memory probe for {name} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _peak_child(name: str, path: str, batch: int, seconds: float, tokens: int) -> None:
    net = load_backend(name, path, 1).net
    network_step(net, batch, seconds, tokens)()
    print(round(vm_hwm_mb(), 1))


def vm_hwm_mb() -> float:
    """Peak resident memory of this address space (VmHWM; ru_maxrss would carry the parent's across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def run(args: argparse.Namespace) -> list[dict]:
    from asr.inference.transcriber import load_model

    threads_list, batches = _ints(args.threads, "--threads"), _ints(args.batch, "--batch")
    if args.manifest and not args.model:
        raise UserError("--manifest needs --model (a trained model: random weights have no WER)")
    net, tok, meta, name = source(args)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        exported = export_both(net, tok, meta, out)
        eager_file = Path(args.model) if args.model else out / "model.pt"
        if not args.model:
            from asr.model.io import save_model

            save_model(eager_file, net, tok, meta)
        paths = {"torch": eager_file, **{k: v["path"] for k, v in exported.items()}}
        base = {"bench": "onnx", "model": name, "params": sum(p.numel() for p in net.parameters()),
                "machine": cpu_model(), "seconds": args.seconds, "tokens": args.tokens}
        records = []
        files = {"torch": round(sum(t.numel() * t.element_size() for t in net.state_dict().values()) / 1e6, 2),
                 **{k: v["mb"] for k, v in exported.items()}}
        memory = {k: peak_memory(k, p, max(batches), args.seconds, args.tokens) for k, p in paths.items()}
        records.append({**base, "kind": "files", "mb": files, "export_s": {k: v["export_s"] for k, v in
                                                                           exported.items()},
                        "peak_rss_mb": memory, "peak_batch": max(batches)})
        for threads in threads_list:
            torch.set_num_threads(threads)
            nets = {"torch": load_model(eager_file).net,
                    **{k: load_backend(k, v["path"], threads).net for k, v in exported.items()}}
            for batch in batches:
                progress(f"network: batch {batch}, {threads} thread(s)")
                med = time_network(nets, batch, args)
                audio = batch * args.seconds
                records.append({**base, "kind": "network", "batch": batch, "threads": threads,
                                "rtf": {k: round(v / audio, 5) for k, v in med.items()},
                                "speedup": {k: round(med["torch"] / v, 2) for k, v in med.items() if k != "torch"},
                                "load_avg_1m": round(os.getloadavg()[0], 2)})
        if args.manifest:
            for row in pipeline(args, paths, threads_list[0]):
                records.append({**base, "kind": "pipeline", "manifest": args.manifest, **row})
    return records
