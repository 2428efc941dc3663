"""Starting training from a model file's weights (fine-tuning): `asr fit --init-from MODEL.pt`.

Usage:
    asr fit --config recipes/tts/digits.yaml --init-from exp/demo/model.pt --data.train_manifests my_cuts.jsonl.gz
    # or in the recipe:  model: {init_from: exp/demo/model.pt}

The model file brings its weights, its tokenizer and its CMVN statistics (nothing is trained or measured from the
new data), so the run's config must describe the same network: a different size, front end or tokenizer is a
one-line error naming the settings that differ. Settings that only shape training (dropout, the loss weights,
SpecAugment, VTLP) may differ: that is what fine-tuning changes.
"""

from __future__ import annotations

from pathlib import Path

import sys

import torch

from asr.errors import UserError
from asr.model import ModelConfig
from asr.model.io import load_model_file
from asr.tokenizer import UNK, Tokenizer

# ModelConfig / FrontendConfig fields that shape training only: the network and its features are the same.
TRAINING_ONLY = frozenset({
    "vocab_size",  # set from the tokenizer, which comes from the file
    "dropout", "attn_dropout", "ctc_weight", "label_smoothing",
    "frontend.vtlp", "frontend.freq_masks", "frontend.freq_mask_width", "frontend.time_masks",
    "frontend.time_mask_ratio", "frontend.time_warp",
})


def start_from(path: str | Path, model_cfg: ModelConfig, tok_cfg) -> tuple[Tokenizer, dict[str, torch.Tensor]]:
    """(tokenizer, weights with the CMVN statistics) of model file `path`, once the run's model and tokenizer
    settings are checked against it. `tok_cfg` is the task's TokenizerConfig (kind, vocab_size)."""
    net, tokenizer, _ = load_model_file(path)
    check_tokenizer(path, tokenizer, tok_cfg.kind, tok_cfg.vocab_size)
    differing = architecture_differences(model_cfg, net.cfg)
    if differing:
        shown = ", ".join(f"{k} {mine!r} (the file: {theirs!r})" for k, (mine, theirs) in differing.items())
        raise UserError(f"--init-from {path}: the config's model differs from the file's in {shown}; set "
                        f"{'them' if len(differing) > 1 else 'it'} as the file has (`asr info {path}`), or use "
                        "the recipe the file was trained with")
    return tokenizer, net.state_dict()


def warn_unknown_units(path: str | Path, tokenizer: Tokenizer, texts) -> None:
    """One line on stderr when the new training transcripts hold units the file's tokenizer cannot write: they
    train as <unk> (a word model fine-tuned on new words learns nothing about them)."""
    units = unknown = 0
    for text in texts:
        ids = tokenizer.encode(text or "")
        units += len(ids)
        unknown += ids.count(UNK)
    if unknown:
        print(f"warning: --init-from {path}: {unknown} of the training transcripts' {units} units "
              f"({unknown / units:.1%}) are outside the file's {tokenizer.kind} vocabulary and train as <unk>; to "
              "learn them, train a new model on this data (a new tokenizer) instead", file=sys.stderr)


def check_tokenizer(path: str | Path, tokenizer: Tokenizer, kind: str, vocab_size: int) -> None:
    """The file's tokenizer is used as it is; a config that asks for another kind (or another BPE/unigram size)
    would be silently ignored, so it is an error instead."""
    sized = tokenizer.kind in ("bpe", "unigram")
    if kind != tokenizer.kind or (sized and vocab_size != tokenizer.vocab_size):
        theirs = f"{tokenizer.kind}" + (f" {tokenizer.vocab_size}" if sized else "")
        mine = f"{kind}" + (f" {vocab_size}" if kind in ("bpe", "unigram") else "")
        fix = f"--model.tokenizer.kind {tokenizer.kind}" + (
            f" --model.tokenizer.vocab_size {tokenizer.vocab_size}" if sized else "")
        raise UserError(f"--init-from {path}: the file's tokenizer is {theirs} units, the config asks for {mine}; "
                        f"training goes on with the file's units: set {fix}")


def architecture_differences(mine: ModelConfig, theirs: ModelConfig) -> dict[str, tuple]:
    """{setting: (the config's value, the file's)} for every setting outside TRAINING_ONLY that differs."""
    a, b = _flat(mine.to_dict()), _flat(theirs.to_dict())
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys())
            if k not in TRAINING_ONLY and a.get(k) != b.get(k)}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
