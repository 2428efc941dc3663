"""Usage:
    asr export-shar data/librispeech/train_cuts.jsonl.gz --out data/librispeech/shar
    asr export-shar data/an4/train_cuts.jsonl.gz data/fsdd/train_cuts.jsonl.gz --out data/mix/shar --shard-size 500

Writes the cuts of the manifests (together, in their order) and their audio (FLAC) as lhotse Shar shards:
`cuts.NNNNNN.jsonl.gz` + `recording.NNNNNN.tar`, `--shard-size` cuts each. A recipe then trains from them with
`data.shar_dirs: [DIR]` (and `data.train_manifests: null`): each rank and loader worker streams its own shards,
reshuffled per epoch, and a killed run resumes exactly (asr/data/shar.py). Copy the folder to local disk on each
node, or list the shards' URLs (`pipe:curl ...`) in a JSON file `{"cuts": [...], "recording": [...]}`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", help="lhotse cut manifests (or NeMo JSON lines)")
    parser.add_argument("--out", required=True, help="folder for the shards")
    parser.add_argument("--shard-size", type=int, default=1000, help="cuts per shard (default 1000)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from asr.data.manifests import configure_audio_backend, load_cuts
    from asr.data.shar import export_shar

    configure_audio_backend()
    cuts = load_cuts(args.manifests)
    written = export_shar(cuts, args.out, args.shard_size)
    size = sum(p.stat().st_size for p in Path(args.out).iterdir()) / 1e6
    print(f"wrote {len(written.get('cuts', []))} shards of at most {args.shard_size} cuts ({size:.1f} MB) to "
          f"{args.out}; train from them with data.shar_dirs: [{args.out}] and data.train_manifests: null")
    return 0
