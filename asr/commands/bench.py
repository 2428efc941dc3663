"""Usage:
    asr bench train-step --size base --batch 16 --frames 300 --tokens 20 --threads 2
    asr bench decode --size base --beam 10 --batch 8 --ctc-weight 0.3 --frames 300 --tokens 20
    asr bench decode --size small --beam 1 --batch 1 --frames 1000 --tokens 50
    asr bench features --seconds 60
    asr bench peak --size base --json bench.jsonl
    asr bench serve --model exp/demo/model.pt --audio ../shared/data/fsdd/recordings --requests 64
    asr bench serve --size small --audio ../shared/data/fsdd/recordings --clients 1,4,16
    asr bench stream --model exp/an4-streaming/model.pt --manifest data/an4/test_cuts.jsonl.gz --chunk-ms 160,640,0
    asr bench stream-serve --model exp/an4-streaming/model.pt --audio 'test/*.wav' --clients 1,4,16
    asr bench data --cuts 20000 --workers 0,1,2                                       # loader: manifests vs Shar
    asr bench onnx --model exp/an4/model.pt --manifest data/an4/test_cuts.jsonl.gz   # eager vs onnxruntime
    asr bench chart bench.jsonl --out docs/performance.png

Speed of the hot paths on this machine. Each measurement prints one JSON line (appended to --json FILE too);
timings are medians of --steps runs after --warmup, with the thread count in the record.
"""

from __future__ import annotations

import argparse
import importlib

from asr.bench.args import add_model_arguments, add_timing_arguments

# subcommand -> (module under asr.bench, help)
BENCHES = {
    "train-step": ("train_step",
                   "one training step (forward, CTC + attention loss, backward, AdamW) on random log-mel"),
    "decode": ("decode", "greedy or joint CTC/attention beam search on random encoder input"),
    "features": ("features", "log-mel throughput: ours against librosa and torchaudio's Kaldi fbank"),
    "peak": ("peak", "fp32 matmul GFLOP/s of this machine against the encoder forward's achieved GFLOP/s"),
    "serve": ("serve", "requests/s and p50/p95 latency of asr serve on loopback, batching on and off"),
    "stream": ("stream", "latency (first partial, final) and real-time factor of model.stream() on a simulated clock"),
    "stream-serve": ("stream_serve", "N concurrent live WebSocket streams against asr serve: final latency, lag"),
    "data": ("data", "training data loading: audio hours/s and cuts/s from manifests and from Shar, 0-2 workers"),
    "onnx": ("onnx", "eager PyTorch against onnxruntime fp32 and int8: RTF, speed-up, WER, file size, peak memory"),
    "chart": ("chart", "draw a PNG from the JSON lines that --json appended"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    p = sub.add_parser("train-step", help=BENCHES["train-step"][1], description=BENCHES["train-step"][1])
    add_model_arguments(p)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=300, help="frames per utterance, 100 per second (default 300)")
    p.add_argument("--tokens", type=int, default=20, help="target tokens per utterance (default 20)")
    add_timing_arguments(p, steps=5, warmup=4)  # the heap grows for ~4 steps before a step reaches its pace

    p = sub.add_parser("decode", help=BENCHES["decode"][1], description=BENCHES["decode"][1])
    add_model_arguments(p)
    p.add_argument("--beam", type=int, default=10, help="1 = greedy search (default 10)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--ctc-weight", type=float, default=0.3, help="CTC prefix score weight in the beam (default 0.3)")
    p.add_argument("--frames", type=int, default=300, help="frames per utterance, 100 per second (default 300)")
    p.add_argument("--tokens", type=int, default=20, help="tokens decoded per utterance: <eos> waits for them")
    add_timing_arguments(p, steps=5, warmup=1)

    p = sub.add_parser("features", help=BENCHES["features"][1], description=BENCHES["features"][1])
    p.add_argument("--seconds", type=float, default=60.0, help="audio per run: this many seconds (default 60)")
    p.add_argument("--batch", type=int, default=1, help="utterances per call (default 1)")
    add_timing_arguments(p, steps=5, warmup=1)

    p = sub.add_parser("peak", help=BENCHES["peak"][1], description=BENCHES["peak"][1])
    add_model_arguments(p)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--matmul", type=int, default=2048, help="square matrix size for the peak (default 2048)")
    add_timing_arguments(p, steps=5, warmup=2)

    p = sub.add_parser("serve", help=BENCHES["serve"][1], description=BENCHES["serve"][1])
    p.add_argument("--audio", nargs="+", required=True, help="audio files, folders or globs the clients send")
    p.add_argument("--model", help="model file to serve (default: --size with random weights)")
    p.add_argument("--size", default="small", choices=("tiny", "small", "base", "large"),
                   help="without --model: this config with random weights (default small)")
    p.add_argument("--clients", default="1,4,16", help="concurrent clients, one level after another (default 1,4,16)")
    p.add_argument("--requests", type=int, default=64, help="requests per level (default 64)")
    p.add_argument("--max-batch", type=int, default=16, help="the server's --max-batch with batching on (default 16)")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="the server's --max-wait-ms (default 20)")
    p.add_argument("--threads", type=int, default=None,
                   help="the server's torch threads (default: asr serve's, one fewer than the cores)")
    p.add_argument("--json", metavar="FILE", help="also append each JSON line to FILE")

    p = sub.add_parser("stream", help=BENCHES["stream"][1], description=BENCHES["stream"][1])
    p.add_argument("--model", required=True, help="model file (a streaming recipe's: recipes/an4/streaming.yaml)")
    p.add_argument("--manifest", required=True, help="lhotse cuts or NeMo JSON lines: the utterances streamed")
    p.add_argument("--chunk-ms", default="160,320,640,1280,0", help="chunk sizes, comma-separated; 0: full context")
    p.add_argument("--beam", type=int, default=4, help="beam of the streaming CTC search and its rescoring (default 4)")
    p.add_argument("--limit", type=int, default=0, help="only the first N utterances (default: all)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--json", metavar="FILE", help="also append each JSON line to FILE")

    p = sub.add_parser("stream-serve", help=BENCHES["stream-serve"][1], description=BENCHES["stream-serve"][1])
    p.add_argument("--model", required=True, help="model file to serve")
    p.add_argument("--audio", nargs="+", required=True, help="audio files, folders or globs: one per stream")
    p.add_argument("--clients", default="1,4,16", help="concurrent streams, one level after another (default 1,4,16)")
    p.add_argument("--chunk-ms", type=int, default=None, help="the streams' chunk (default: the server's, 640 ms)")
    p.add_argument("--threads", type=int, default=None, help="the server's torch threads (default: asr serve's)")
    p.add_argument("--json", metavar="FILE", help="also append each JSON line to FILE")

    p = sub.add_parser("data", help=BENCHES["data"][1], description=BENCHES["data"][1])
    p.add_argument("--cuts", type=int, default=20000, help="cuts in the synthetic corpus (default 20000)")
    p.add_argument("--seconds", type=float, default=2.0, help="their mean duration in seconds (default 2)")
    p.add_argument("--workers", default="0,1,2", help="loader workers, comma-separated (default 0,1,2)")
    p.add_argument("--batches", type=int, default=200, help="timed batches per setting (default 200)")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches first (default 5)")
    p.add_argument("--max-duration", type=float, default=100.0, help="seconds of audio a batch (default 100)")
    p.add_argument("--shard-size", type=int, default=1000, help="cuts a Shar shard (default 1000)")
    p.add_argument("--root", default="/tmp/asr-bench-data", help="where the corpus and shards are cached")
    p.add_argument("--json", metavar="FILE", help="also append each JSON line to FILE")

    p = sub.add_parser("onnx", help=BENCHES["onnx"][1], description=BENCHES["onnx"][1])
    add_model_arguments(p)
    p.add_argument("--model", help="model file (default: --size with random weights)")
    p.add_argument("--manifest", help="with --model: also decode this test set per backend (WER, RTF)")
    p.add_argument("--batch", default="1,16", help="batch sizes of the network timing, comma-separated (default 1,16)")
    p.add_argument("--threads", default="1,2", help="intra-op threads, comma-separated (default 1,2)")
    p.add_argument("--seconds", type=float, default=5.0, help="audio per utterance in the network timing (default 5)")
    p.add_argument("--tokens", type=int, default=20, help="greedy decoder steps per utterance (default 20)")
    p.add_argument("--beam", type=int, default=4, help="the test set's joint beam (default 4)")
    p.add_argument("--pipeline-batch", default="1,16", help="batch sizes of the test set's decoding (default 1,16)")
    p.add_argument("--steps", type=int, default=5, help="timed runs per backend; the median (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--out", help="keep the exported folders here (default: a temporary folder)")
    p.add_argument("--json", metavar="FILE", help="also append each JSON line to FILE")

    p = sub.add_parser("chart", help=BENCHES["chart"][1], description=BENCHES["chart"][1])
    p.add_argument("inputs", nargs="+", help="JSON-lines files written with --json")
    p.add_argument("--out", default="docs/performance.png")
    p.add_argument("--title", default="")
    p.set_defaults(json=None)


def run(args: argparse.Namespace) -> int:
    from asr.bench.common import emit

    module = importlib.import_module(f"asr.bench.{BENCHES[args.bench][0]}")
    records = module.run(args)
    for rec in records if isinstance(records, list) else [records]:
        emit(rec, args.json)
    return 0
