"""Text for language-model training: sentences -> unit ids -> length-bucketed batches of at most `max_tokens`.

Sentences come from text files (one a line) or from manifests' transcripts (lhotse cuts or NeMo JSON lines), are
normalised as training targets are (`asr.text.normalise_text`, inside the tokenizer) and encoded with the
acoustic model's tokenizer. A fixed share (at least one, at most 2,000) is held out for validation perplexity.

Batch schema: `{"tokens": (B, U) long padded with -1, "lens": (B,) long}`; B varies, B x U <= max_tokens.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from asr.errors import UserError
from asr.model.asr_model import pad_targets
from asr.tokenizer import Tokenizer


def read_sentences(texts: Sequence[str | Path] = (), manifests: Sequence[str | Path] = ()) -> list[str]:
    """Every non-empty line of `texts` (plain or .gz) and every supervision text of `manifests`, in order."""
    out: list[str] = []
    for path in map(Path, texts):
        if not path.exists():
            raise UserError(f"text file not found: {path}; give a file with one sentence a line")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            out += [line.strip() for line in f if line.strip()]
    if manifests:
        from asr.data.manifests import load_cuts

        out += [s.text for c in load_cuts(list(manifests)) for s in c.supervisions if s.text and s.text.strip()]
    if not out:
        raise UserError("no sentences to train the LM on; pass --text FILE (one sentence a line) or --manifest")
    return out


def refuse_held_out(sentences: Sequence[str], held_out: Sequence[str | Path]) -> None:
    """UserError when any sentence of the held-out manifests (dev, test) is in the LM text: an LM that has read the
    test sentences makes every WER measured with it a leak. Compared after `normalise_text`, as scoring does."""
    if not held_out:
        return
    from asr.data.manifests import load_cuts
    from asr.text import normalise_text

    lm = {normalise_text(t) for t in sentences}
    found = sorted({s.text for c in load_cuts(list(held_out)) for s in c.supervisions
                    if s.text and normalise_text(s.text) in lm})
    if found:
        raise UserError(f"{len(found)} sentence(s) of {', '.join(map(str, held_out))} are in the LM text (first: "
                        f"{found[0]!r}); an LM trained on them makes their WER a leak: remove them from the text")
    print(f"LM text: {len(sentences):,} sentences, none of them in {', '.join(map(str, held_out))}")


def split_valid(ids: list[list[int]], seed: int, fraction: float = 0.01, most: int = 2000
                ) -> tuple[list[list[int]], list[list[int]]]:
    """(train, valid): a seeded `fraction` of the sentences (1 to `most`) held out."""
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    n = min(most, max(1, round(fraction * len(ids)))) if len(ids) > 1 else 0
    valid = [ids[i] for i in order[:n]]
    return [ids[i] for i in order[n:]] or valid, valid


class BucketSampler(Sampler[list[int]]):
    """Batches of sentences of similar length, at most `max_tokens` units (padding counted) each: sentences are
    shuffled, sorted by length within pools of ~100 batches, cut into batches, and the batches shuffled. The
    order depends on (seed, epoch) only, so a resumed run meets the same batches; `resume_at(epoch, consumed)`
    skips the batches an interrupted run had already trained on (once, in that epoch)."""

    def __init__(self, lengths: list[int], max_tokens: int, shuffle: bool, seed: int,
                 epoch: Callable[[], int] = lambda: 0) -> None:
        """epoch: the training loop's epoch, asked at each pass (Lightning sets no epoch on a batch sampler)."""
        self.lengths, self.max_tokens, self.shuffle, self.seed, self.epoch = lengths, max_tokens, shuffle, seed, epoch
        self._resume: tuple[int, int] | None = None

    def resume_at(self, epoch: int, consumed: int) -> None:
        self._resume = (epoch, consumed)

    def _batches(self) -> list[list[int]]:
        rng = random.Random(f"{self.seed}-{self.epoch()}")
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        mean = max(1, sum(self.lengths) // max(1, len(self.lengths)))
        pool = max(1, 100 * self.max_tokens // mean)
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: self.lengths[i])
            batch: list[int] = []
            for i in chunk:
                longest = max(self.lengths[i], max((self.lengths[j] for j in batch), default=0)) + 1
                if batch and longest * (len(batch) + 1) > self.max_tokens:
                    batches.append(batch)
                    batch = []
                batch.append(i)
            if batch:
                batches.append(batch)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        skip = 0
        if self._resume is not None and self._resume[0] == self.epoch():
            skip, self._resume = self._resume[1], None
        return iter(self._batches()[skip:])

    def __len__(self) -> int:
        return len(self._batches())


def collate(seqs: list[list[int]]) -> dict[str, torch.Tensor]:
    tokens, lens = pad_targets(seqs)  # (B, U) padded with IGNORE, (B,)
    return {"tokens": tokens, "lens": lens}


class LMDataModule(L.LightningDataModule):
    def __init__(self, sentences: list[str], tokenizer: Tokenizer, max_tokens: int = 4000, seed: int = 0,
                 max_units: int = 400) -> None:
        super().__init__()
        ids = [tokenizer.encode(s)[:max_units] for s in sentences]
        ids = [s for s in ids if s]
        if not ids:
            raise UserError("none of the LM sentences has a unit the tokenizer knows")
        self.train_ids, self.valid_ids = split_valid(ids, seed)
        self.max_tokens, self.seed = max(max_tokens, max_units + 1), seed
        self.train_sampler = BucketSampler([len(s) for s in self.train_ids], self.max_tokens, True, seed,
                                           epoch=lambda: self.trainer.current_epoch if self.trainer else 0)
        self._epoch, self._consumed = 0, 0  # training batches the loop has taken in `_epoch`

    def _loader(self, ids: list[list[int]], shuffle: bool) -> DataLoader:
        sampler = self.train_sampler if shuffle else BucketSampler([len(s) for s in ids], self.max_tokens, False, 0)
        return DataLoader(ids, batch_sampler=sampler, collate_fn=collate, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_ids, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_ids, shuffle=False)

    # ---- exact resume: where in its epoch the loop was when the checkpoint was written ----------------------
    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        trainer = self.trainer
        if trainer is not None and trainer.training:
            if trainer.current_epoch != self._epoch:
                self._epoch, self._consumed = trainer.current_epoch, 0
            self._consumed += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "consumed": self._consumed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._epoch, self._consumed = int(state_dict["epoch"]), int(state_dict["consumed"])
        self.train_sampler.resume_at(self._epoch, self._consumed)
