"""Statistics a model needs from its training data before training: CMVN mean/std and a tokenizer."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm import tqdm

from asr.features import FrontendConfig, LogMel, StatsAccumulator
from asr.tokenizer import Tokenizer, train_tokenizer

if TYPE_CHECKING:
    from lhotse import CutSet


@torch.no_grad()
def compute_cmvn(
    cuts: CutSet, frontend: FrontendConfig | None = None, max_cuts: int | None = None, seed: int = 0,
    num_workers: int = 2, batch_seconds: float = 60.0,
) -> tuple[Tensor, Tensor]:
    """Per-bin log-mel mean and std (F,), (F,) over the valid frames of the cuts (a random `max_cuts` of them).

    `frontend` is the model's own (sample rate, mels, FFT size, filterbank top): the statistics must describe the
    features the model will normalise, not a default filterbank's.

    A random subset rather than the first N: manifests are often sorted by speaker or length. Audio is read and
    resampled by the training dataset in worker processes; batching does not change the statistics because the
    frontend's frames never reach into padding.
    """
    from lhotse import CutSet
    from lhotse.dataset import SimpleCutSampler

    from asr.data.dataset import ASRDataset

    cut_list = list(cuts)
    if max_cuts is not None and len(cut_list) > max_cuts:
        cut_list = random.Random(seed).sample(cut_list, max_cuts)
    sampler = SimpleCutSampler(CutSet.from_cuts(cut_list), max_duration=batch_seconds, world_size=1, rank=0)
    cfg = frontend or FrontendConfig()
    loader = DataLoader(ASRDataset(cfg.sample_rate), sampler=sampler, batch_size=None, num_workers=num_workers)
    logmel = LogMel(cfg)
    acc = StatsAccumulator(cfg.n_mels)
    with tqdm(total=len(cut_list), desc="CMVN statistics", unit=" utt") as bar:
        for batch in loader:
            feats, lens = logmel(batch["audio"], batch["audio_lens"])  # (B, T, F), (B,)
            acc.update(feats, lens)
            bar.update(len(batch["ids"]))
    return acc.result()


def train_tokenizer_from_cuts(cuts: CutSet, kind: str = "char", vocab_size: int = 256) -> Tokenizer:
    """A tokenizer trained on the cuts' transcripts (train_tokenizer normalises them)."""
    return train_tokenizer((s.text or "" for c in cuts for s in c.supervisions), kind, vocab_size)
