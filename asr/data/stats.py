"""Statistics a model needs from its training data before training: CMVN mean/std and a tokenizer, and the two
files they are kept in between the prepare stage and training (asr/training/prepare.py):

    tokenizer.json  {"format": "asr-tokenizer/1", "tokenizer": Tokenizer.state(), "made_from": {...}}
    cmvn.json       {"format": "asr-cmvn/1", "mean": [F floats], "std": [F floats], "made_from": {...}}

`made_from` records what the file was made from (manifests, settings), so that a run can tell a file made for
other settings from its own. Plain JSON, like the tokenizer state inside model files: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm import tqdm

from asr.errors import UserError, brief
from asr.features import FrontendConfig, LogMel, StatsAccumulator
from asr.text import cut_translation
from asr.tokenizer import Tokenizer, tokenizer_from_state, train_tokenizer

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
    # its own generator: measuring statistics leaves the global random state (the network's initialisation after
    # it) as it was, so a run draws the same weights whether its statistics were measured now or read from a file
    loader = DataLoader(ASRDataset(cfg.sample_rate), sampler=sampler, batch_size=None, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(seed))
    logmel = LogMel(cfg)
    acc = StatsAccumulator(cfg.n_mels)
    with tqdm(total=len(cut_list), desc="CMVN statistics", unit=" utt") as bar:
        for batch in loader:
            feats, lens = logmel(batch["audio"], batch["audio_lens"])  # (B, T, F), (B,)
            acc.update(feats, lens)
            bar.update(len(batch["ids"]))
    return acc.result()


def train_tokenizer_from_cuts(cuts: CutSet, kind: str = "char", vocab_size: int = 256,
                              translate_to: str | None = None) -> Tokenizer:
    """A tokenizer trained on the cuts' transcripts (train_tokenizer normalises them); with `translate_to`, on their
    translations into that language too: one vocabulary for the CTC head (source) and the decoder (target)."""
    texts = [s.text or "" for c in cuts for s in c.supervisions]
    if translate_to:
        texts += [cut_translation(c, translate_to) for c in cuts]
    return train_tokenizer(texts, kind, vocab_size)


TOKENIZER_FORMAT, CMVN_FORMAT = "asr-tokenizer/1", "asr-cmvn/1"


def write_tokenizer_file(path: str | Path, tokenizer: Tokenizer, made_from: dict) -> None:
    _write_json(path, {"format": TOKENIZER_FORMAT, "tokenizer": tokenizer.state(), "made_from": made_from})


def read_tokenizer_file(path: str | Path) -> tuple[Tokenizer, dict]:
    """(the tokenizer, what it was made from) of a file `write_tokenizer_file` wrote."""
    d = _read_json(path, TOKENIZER_FORMAT)
    return tokenizer_from_state(d["tokenizer"]), d.get("made_from") or {}


def write_cmvn_file(path: str | Path, mean: Tensor, std: Tensor, made_from: dict) -> None:
    _write_json(path, {"format": CMVN_FORMAT, "mean": mean.tolist(), "std": std.tolist(), "made_from": made_from})


def read_cmvn_file(path: str | Path) -> tuple[Tensor, Tensor, dict]:
    """(mean (F,), std (F,), what they were measured on) of a file `write_cmvn_file` wrote."""
    d = _read_json(path, CMVN_FORMAT)
    return torch.tensor(d["mean"]), torch.tensor(d["std"]), d.get("made_from") or {}


def _write_json(path: str | Path, blob: dict) -> None:
    """Written beside, then renamed: a reader (another rank waiting for it) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(json.dumps(blob) + "\n")
    os.replace(partial, path)


def _read_json(path: str | Path, fmt: str) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} ({brief(e)}); delete it and `asr prepare-training` (or `asr fit`) "
                        "makes it again") from None
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise UserError(f"{path} is not an {fmt.split('/')[0]} file (`asr prepare-training` writes them)")
    return d
