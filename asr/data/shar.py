"""Training data as lhotse Shar: cuts and their audio in tar shards, read as streams, each rank and loader worker
from its own shards (what icefall and NeMo do at thousands of hours, where a manifest read whole and a file per
utterance stop scaling).

    asr export-shar data/librispeech/train_cuts.jsonl.gz --out data/librispeech/shar --shard-size 1000
    data: {shar_dirs: [data/librispeech/shar]}          # the recipe: train from the shards (validation from manifests)

A Shar folder holds `cuts.NNNNNN.jsonl.gz` and `recording.NNNNNN.tar` (FLAC); instead of a folder, a JSON file
`{"cuts": [...], "recording": [...]}` may list the shards as any lhotse-readable paths or URLs (`pipe:curl -s
https://...`, object storage through `pipe:` commands).

An epoch (`ShardStream`) is the corpus's audio in batches: `batches` = ceil(hours / (max_duration x world size)),
the same count on every rank (no rank waits on another at the epoch's end). In epoch e the shards are shuffled by
(seed, e) and rank r's worker w (of W) reads every G-th of them from g = r x W + w (G = world size x W), bucketed and
shuffled by its own sampler, over and over if its shards run out before its share of the batches. Workers hand
out batches in turn (PyTorch's order for iterable datasets), so batch k of an epoch is worker k mod W's (k div W)-th.

Exact resume: the data module counts the batches the training loop took (k); a resumed epoch makes each worker
skip the batches it had made and rotates the workers so that the first new batch is worker k mod W's: the rest
of the epoch is what an uninterrupted run would have seen, batch for batch.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from asr.errors import UserError


@dataclass(frozen=True)
class Shard:
    cuts: str
    recording: str
    size: int = 0  # cuts in it (0: not counted yet)


def list_shards(sources: list[str]) -> list[Shard]:
    """The shards of Shar folders and/or JSON shard lists, in a fixed order."""
    shards: list[Shard] = []
    for src in sources:
        path = Path(src)
        if path.suffix == ".json":
            try:
                fields = json.loads(path.read_text())
                pairs = list(zip(fields["cuts"], fields["recording"], strict=True))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise UserError(f"data.shar_dirs: {src} is not a shard list ({e}); expected JSON "
                                '{"cuts": [...], "recording": [...]} of equal length') from None
            shards += [Shard(c, r) for c, r in pairs]
            continue
        cuts = sorted(path.glob("cuts.*.jsonl.gz"))
        recs = sorted(path.glob("recording.*.tar"))
        if not cuts or len(cuts) != len(recs):
            raise UserError(f"data.shar_dirs: {src} holds {len(cuts)} cut shards and {len(recs)} recording shards; "
                            f"write it with `asr export-shar MANIFEST --out {src}`")
        shards += [Shard(str(c), str(r)) for c, r in zip(cuts, recs)]
    if not shards:
        raise UserError("data.shar_dirs is empty: give Shar folders written by `asr export-shar`")
    return shards


def shar_seconds(shards: list[Shard]) -> float:
    """The audio the shards hold, from their cut lists only (no audio read)."""
    cuts = CutSet.from_shar(fields={"cuts": [s.cuts for s in shards]})
    return float(sum(c.duration for c in cuts))


def duration_bins(durations: list[float], buckets: int) -> list[float]:
    """Bucket edges (buckets - 1 of them) that give each bucket about the same total audio, as lhotse's
    estimate_duration_buckets does, from durations alone: every worker's sampler gets the same edges."""
    ds = sorted(durations)
    total, edges, acc = sum(ds), [], 0.0
    for d in ds:
        acc += d
        if len(edges) < buckets - 1 and acc >= total * (len(edges) + 1) / buckets and (not edges or d > edges[-1]):
            edges.append(d)
    return edges or [ds[len(ds) // 2] if ds else 1.0]  # lhotse wants one edge at least


def export_shar(cuts: CutSet, out: str | Path, shard_size: int = 1000) -> dict[str, list[str]]:
    """Write `cuts` and their audio (FLAC) as Shar shards of `shard_size` cuts into `out`."""
    if shard_size < 1:
        raise UserError(f"--shard-size must be at least 1, got {shard_size}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return cuts.to_shar(out, fields={"recording": "flac"}, shard_size=shard_size, warn_unused_fields=False)


@dataclass
class StreamConfig:
    """What a ShardStream needs besides the shards: the batch and bucketing settings, the world, the filters."""

    batches: int  # per rank and epoch
    max_duration: float
    duration_bins: list[float]  # the buckets' edges, from all shards' durations: the same in every worker
    buffer_size: int
    seed: int
    world_size: int = 1
    rank: int = 0
    min_duration: float = 0.1
    max_duration_utt: float = math.inf


@dataclass(frozen=True)
class Within:
    """The cut filter: lo <= duration <= hi (a class, not a lambda: lhotse warns that lambdas may not fork)."""

    lo: float
    hi: float

    def __call__(self, cut) -> bool:
        return self.lo <= cut.duration <= self.hi


class ShardStream(IterableDataset):
    """One epoch of training batches from Shar shards (see the module docstring); `epoch` and `skip` (the batches
    of this epoch already taken) are set by the loader before each epoch's iterator is made."""

    def __init__(self, shards: list[Shard], cfg: StreamConfig, collate: Callable[[CutSet], dict]) -> None:
        self.shards, self.cfg, self.collate = shards, cfg, collate
        self.epoch, self.skip = 0, 0

    def __len__(self) -> int:
        return self.cfg.batches

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        W, p = (info.num_workers, info.id) if info is not None else (1, 0)
        worker = (p + self.skip) % W  # the worker whose turn it is, in an uninterrupted epoch, for the first batch
        mine = len(range(worker, self.cfg.batches, W))  # this worker's share of the epoch
        done = len(range(worker, self.skip, W))  # of which taken before a resume
        g = self.cfg.rank * W + worker
        base = ((self.cfg.seed * 1_000_003 + self.epoch) * 10_007 + g) * 100_003
        for i, cuts in enumerate(self.batches_of(worker, W)):
            if i >= mine:
                return
            if i >= done:
                # The batch's augmentation draws (asr.data.dataset seeds from torch's seed) depend on the batch, not
                # on which worker process makes it or how many batches a resumed worker skipped.
                torch.manual_seed(base + i)
                batch = self.collate(cuts)
                batch["shard_worker"] = g
                yield batch

    def batches_of(self, worker: int, workers: int) -> Iterator[CutSet]:
        """Worker `worker`'s endless batches in this epoch: its shards, bucketed and shuffled."""
        cfg = self.cfg
        G, g = cfg.world_size * workers, cfg.rank * workers + worker
        order = list(self.shards)
        random.Random(cfg.seed * 1_000_003 + self.epoch).shuffle(order)
        mine = order[g::G]
        held = sum(s.size for s in mine)
        if not mine or held == 0:
            raise UserError(f"{len(self.shards)} Shar shards cannot feed {cfg.world_size} rank(s) x {workers} "
                            f"loader worker(s): write smaller shards (asr export-shar --shard-size) or use fewer "
                            f"data.num_workers")
        cuts = CutSet.from_shar(fields={"cuts": [s.cuts for s in mine], "recording": [s.recording for s in mine]})
        # over and over, ids kept; the bucketing buffer holds at most one pass (more would only re-read the tars)
        cuts = cuts.filter(Within(cfg.min_duration, cfg.max_duration_utt)).repeat(preserve_id=True)
        yield from DynamicBucketingSampler(
            cuts, max_duration=cfg.max_duration, duration_bins=cfg.duration_bins,
            buffer_size=max(1, min(cfg.buffer_size, held)),
            shuffle=True, drop_last=False, seed=cfg.seed + 7919 * self.epoch + g, world_size=1, rank=0,
            sync_buckets=False,  # lhotse would seed its bucket choice by the worker process's id, not this stream's
        )


class StreamLoader(DataLoader):
    """A DataLoader over a ShardStream that tells it, as each epoch's iterator is made, which epoch this is and
    how many of its batches were already taken (`position()` -> (epoch, skip))."""

    def __init__(self, stream: ShardStream, position: Callable[[], tuple[int, int]], num_workers: int) -> None:
        super().__init__(stream, batch_size=None, num_workers=num_workers, persistent_workers=False)
        self._position = position

    def __iter__(self):
        self.dataset.epoch, self.dataset.skip = self._position()
        return super().__iter__()
