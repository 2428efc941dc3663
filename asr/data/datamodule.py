"""The Lightning DataModule: lhotse manifests in, bucketed batches of padded audio out (schema: asr/data/dataset.py).

    data:
      train_manifests: [data/tts-digits/train_cuts.jsonl.gz, data/fsdd/train_cuts.jsonl.gz]
      valid_manifests: data/tts-digits/dev_cuts.jsonl.gz
      train_repeats: [1, 3]  # FSDD's takes three times per epoch: weight a small corpus up in the mix
      max_duration: 120      # seconds of audio per batch
      speed_perturb: [0.9, 1.0, 1.1]

Batches come from lhotse's DynamicBucketingSampler: cuts of similar length share a batch (little padding) and a
batch holds `max_duration` seconds in total, so B varies. With `audio_per_step` (seconds per optimiser step, all
devices together) the recipe's batch no longer depends on the GPU count: setup() derives the trainer's gradient
accumulation and each device's batch from the world size (asr/data/batch_plan.py) and logs the plan. Audio is
read, resampled to `sample_rate` and augmented in `num_workers` worker processes.

Targets: with a tokenizer (`dm.tokenizer = tok`, set before the loaders are made; `asr fit` sets the run's, see
asr/training/prepare.py) each batch carries the transcripts' token ids, made in the loader's workers.

Distributed training: the sampler splits batches across ranks itself (it gets the trainer's world size and rank),
so the Trainer must run with `use_distributed_sampler=False` (asr/training/cli.py sets it); otherwise
Lightning would wrap the sampler in a DistributedSampler of its own.

Exact resume: `state_dict()` (saved by Lightning in every checkpoint) holds the training sampler's state after the
batches the training loop has *consumed*, not the ones workers prefetched (or, once the epoch's last batch was
taken, the next epoch), and `load_state_dict()` makes the next `train_dataloader()` continue with exactly the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler
from torch.utils.data import DataLoader

from asr.data.batch_plan import plan_batches
from asr.data.dataset import ASRDataset
from asr.data.manifests import configure_audio_backend, load_cuts
from asr.errors import UserError
from asr.tokenizer import Tokenizer

log = logging.getLogger(__name__)

Manifests = list[str] | str | None


class ASRDataModule(L.LightningDataModule):
    def __init__(
        self,
        train_manifests: Manifests = None,
        valid_manifests: Manifests = None,
        test_manifests: Manifests = None,
        train_repeats: list[int] | None = None,  # per train manifest: times its cuts appear in an epoch
        # Train from lhotse Shar shards instead of train_manifests (asr/data/shar.py: `asr export-shar`): folders, or
        # JSON shard lists of paths/URLs; each rank and loader worker streams its own shards, reshuffled per epoch.
        shar_dirs: Manifests = None,
        max_duration: float = 120.0,  # seconds of audio per batch and device (with audio_per_step: at most)
        # Seconds of audio per optimiser step over all devices: gradient accumulation and each device's batch are
        # then derived from the world size (asr/data/batch_plan.py), so any number of GPUs follows the same path.
        audio_per_step: float | None = None,
        num_buckets: int = 20,
        buffer_size: int = 20000,  # cuts held by the bucketing sampler; more = better buckets and shuffling
        num_workers: int = 2,
        shuffle: bool = True,
        seed: int = 0,
        sample_rate: int = 16000,
        speed_perturb: list[float] | None = None,  # e.g. [0.9, 1.0, 1.1], one drawn per batch
        # e.g. [0.9, 1.0, 1.1]: the training set holds a copy of every cut at each speed (ESPnet's and Kaldi's
        # speed perturbation: an epoch is then 3 passes over the audio, each at another speed)
        speed_copies: list[float] | None = None,
        noise_snr_db: tuple[float, float] | None = None,  # e.g. [10, 30]: white/pink/brown noise at a random SNR
        noise_prob: float = 0.5,
        band_limit_prob: float = 0.0,  # low-pass this share of training utterances, as an 8 kHz recording is
        band_limit_hz: tuple[float, float] = (3400.0, 4000.0),  # the cutoff, drawn per utterance
        reverb_prob: float = 0.0,  # this share of training utterances played in a synthetic room
        reverb_max_t60: float = 0.8,  # seconds: the rooms' reverberation times are drawn from U[0.1, this]
        max_utt_duration: float | None = 30.0,  # training utterances longer than this are dropped
        min_utt_duration: float = 0.1,  # shorter ones give no encoder frames
    ) -> None:
        super().__init__()
        self.manifests = {"train": _as_list(train_manifests), "valid": _as_list(valid_manifests),
                          "test": _as_list(test_manifests)}
        self.train_repeats = _check_repeats(train_repeats, self.manifests["train"])
        self.shar_dirs = _as_list(shar_dirs)
        if self.shar_dirs and self.manifests["train"]:
            raise UserError("data.shar_dirs and data.train_manifests both name the training data: set one "
                            "(train_manifests: null)")
        self._shards: list | None = None  # asr.data.shar.Shard list, read in setup()
        self._shar_durations: list[float] = []
        self.max_duration = max_duration
        self.audio_per_step = audio_per_step
        self.batch_plan = None  # asr.data.batch_plan.BatchPlan, made in setup() when audio_per_step is set
        self.speed_copies = [float(f) for f in speed_copies] if speed_copies else None
        self.num_buckets = num_buckets
        self.buffer_size = buffer_size
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.seed = seed
        self.sample_rate = sample_rate
        self.speed_perturb = speed_perturb
        self.noise_snr_db = noise_snr_db
        self.noise_prob = noise_prob
        self.band_limit_prob = band_limit_prob
        self.band_limit_hz = band_limit_hz
        self.reverb_prob = reverb_prob
        self.reverb_max_t60 = reverb_max_t60
        self.max_utt_duration = max_utt_duration
        self.min_utt_duration = min_utt_duration
        # The run's tokenizer: batches then carry target ids (B, U). Not a setting: the model's tokenizer, handed over
        # by whoever starts the run (asr.training.prepare.prepare_run), so that both always hold the same one.
        self.tokenizer: Tokenizer | None = None
        # Speech translation: the language the model translates into (its ModelConfig.target_language), handed over
        # with the tokenizer; batches then carry the translation as "text"/"targets" and the transcript for CTC.
        self.translate_to: str | None = None
        self._cuts: dict[str, CutSet] = {}
        self._train_sampler: DynamicBucketingSampler | None = None
        self._pending: dict | None = None  # restored state (`state_dict()`), applied by the next train_dataloader()
        self._epoch = 0
        self._consumed = 0  # training batches taken by the training loop in `_epoch`

    # ---- cuts -----------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        configure_audio_backend()
        by_stage = {"fit": ["train", "valid"], "validate": ["valid"], "test": ["test"]}
        wanted = by_stage.get(stage or "", list(self.manifests))
        for split in wanted:
            if self.manifests[split]:
                self.cuts(split)
        if self.shar_dirs and "train" in wanted:
            self._read_shards()
        if self.audio_per_step and self.trainer is not None and stage in (None, "fit"):
            self._plan_batches()

    def _plan_batches(self) -> None:
        """Derive each device's batch and the trainer's gradient accumulation from data.audio_per_step."""
        trainer = self.trainer
        plan = plan_batches(self.audio_per_step, self.max_duration, trainer.world_size)
        if trainer.accumulate_grad_batches not in (1, plan.accumulate):
            raise UserError(f"trainer.accumulate_grad_batches {trainer.accumulate_grad_batches} and "
                            f"data.audio_per_step {self.audio_per_step:g} both set the batch; with audio_per_step "
                            "the accumulation is derived from the number of devices: leave it at 1")
        trainer.accumulate_grad_batches = plan.accumulate
        self.batch_plan = plan
        if trainer.is_global_zero:
            log.warning("batch plan: %s (accumulate_grad_batches %d derived for world size %d)",
                        plan.line(), plan.accumulate, plan.world_size)

    def cuts(self, split: str) -> CutSet:
        """The cuts of 'train' (duration-filtered, in a fixed shuffled order), 'valid' or 'test'; loaded once."""
        if split not in self._cuts:
            if not self.manifests[split]:
                raise UserError(f"no {split} manifest configured; set data.{split}_manifests in the config")
            if split == "train" and self.train_repeats:
                cuts = load_repeated(self.manifests[split], self.train_repeats)
            else:
                cuts = load_cuts(self.manifests[split])
            if split == "train":
                if self.speed_copies:  # before the duration filter, as ESPnet's asr.sh filters after stage 2
                    cuts = speed_copies(cuts, self.speed_copies)
                cuts = self._filter(cuts)
                if self.shuffle:  # the sampler only shuffles within its buffer: mix concatenated corpora once here
                    cuts = cuts.shuffle(rng=random.Random(self.seed))
            self._cuts[split] = cuts
        return self._cuts[split]

    def train_cuts(self) -> CutSet:
        """The training cuts; from Shar shards their metadata only (transcripts for the tokenizer, no audio)."""
        if self.shar_dirs:
            self._read_shards()
            return CutSet.from_shar(fields={"cuts": [s.cuts for s in self._shards]}).to_eager()
        return self.cuts("train")

    def stats_cuts(self, max_cuts: int) -> CutSet:
        """Training cuts whose audio can be read, for the CMVN statistics (which sample `max_cuts` of them); from
        Shar shards the first `max_cuts` of the shards in a seeded shuffled order."""
        if not self.shar_dirs:
            return self.cuts("train")
        self._read_shards()
        order = list(self._shards)
        random.Random(self.seed).shuffle(order)
        lazy = CutSet.from_shar(fields={"cuts": [s.cuts for s in order], "recording": [s.recording for s in order]})
        return lazy.subset(first=max_cuts).to_eager()

    def train_seconds(self) -> float:
        """The audio an epoch covers (speed copies and repeats included)."""
        if self.shar_dirs:
            return float(sum(self._shar_durations))
        return float(sum(c.duration for c in self.cuts("train")))

    def _filter(self, cuts: CutSet) -> CutSet:
        hi = self.max_utt_duration or float("inf")
        kept = cuts.filter(lambda c: self.min_utt_duration <= c.duration <= hi).to_eager()
        if len(kept) < len(cuts):
            log.warning(
                "dropped %d of %d training utterances outside [%g, %g] s",
                len(cuts) - len(kept), len(cuts), self.min_utt_duration, hi,
            )
        if not len(kept):
            raise UserError(f"no training utterance is between {self.min_utt_duration} and {hi} s; "
                            "check data.max_utt_duration / data.min_utt_duration")
        return kept

    # ---- loaders ----------------------------------------------------------------------------------------------
    def make_sampler(self, cuts: CutSet, shuffle: bool, max_duration: float | None = None) -> DynamicBucketingSampler:
        world_size, rank = self._world()
        with warnings.catch_warnings():  # eager CutSets are fine at our sizes; lhotse suggests lazy ones
            warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
            return DynamicBucketingSampler(
                cuts,
                max_duration=max_duration or self.max_duration,
                # a small fine-tuning set may hold fewer cuts than the recipe's buckets (lhotse asserts)
                num_buckets=max(1, min(self.num_buckets, len(cuts))),
                buffer_size=self.buffer_size,
                shuffle=shuffle,
                drop_last=False,
                seed=self.seed,
                world_size=world_size,
                rank=rank,
            )

    def train_dataloader(self) -> DataLoader:
        per_device = self.batch_plan.per_device if self.batch_plan else None
        if self.shar_dirs:
            return self._shar_loader(per_device or self.max_duration)
        sampler = self.make_sampler(self.cuts("train"), shuffle=self.shuffle, max_duration=per_device)
        pending, self._pending = self._pending, None
        if pending and pending.get("sampler") and not self._same_batches(pending["sampler"], sampler):
            pending = {"next_epoch": pending["sampler"]["epoch"]}  # this epoch again, from its start
            self._consumed = 0
        if pending and pending.get("sampler"):
            sampler.load_state_dict(copy.deepcopy(pending["sampler"]))
        elif pending and "next_epoch" in pending:
            sampler.set_epoch(pending["next_epoch"])
        self._train_sampler = sampler
        dataset = ASRDataset(self.sample_rate, self.speed_perturb, self.noise_snr_db, self.noise_prob,
                             self.band_limit_prob, self.band_limit_hz, self.reverb_prob, self.reverb_max_t60,
                             tokenizer=self.tokenizer, translate_to=self.translate_to)
        return self._loader(dataset, sampler)

    def _read_shards(self) -> None:
        """The shard list and the kept cuts' durations (from the cut lists alone), once."""
        if self._shards is not None:
            return
        from asr.data.shar import list_shards

        hi = self.max_utt_duration or float("inf")
        self._shards, self._shar_durations = [], []
        for shard in list_shards(self.shar_dirs):
            kept = [c.duration for c in CutSet.from_shar(fields={"cuts": [shard.cuts]})
                    if self.min_utt_duration <= c.duration <= hi]
            self._shards.append(replace(shard, size=len(kept)))
            self._shar_durations += kept
        if not self._shar_durations:
            raise UserError(f"no training utterance in data.shar_dirs is between {self.min_utt_duration} and {hi} s")

    def _shar_loader(self, max_duration: float) -> DataLoader:
        from asr.data.shar import ShardStream, StreamConfig, StreamLoader, duration_bins

        self._read_shards()
        world, rank = self._world()
        total = sum(self._shar_durations)
        cfg = StreamConfig(
            batches=max(1, math.ceil(total / (max_duration * world))), max_duration=max_duration,
            duration_bins=duration_bins(self._shar_durations, self.num_buckets),
            buffer_size=self.buffer_size, seed=self.seed, world_size=world, rank=rank,
            min_duration=self.min_utt_duration, max_duration_utt=self.max_utt_duration or math.inf)
        dataset = ASRDataset(self.sample_rate, self.speed_perturb, self.noise_snr_db, self.noise_prob,
                             self.band_limit_prob, self.band_limit_hz, self.reverb_prob, self.reverb_max_t60,
                             tokenizer=self.tokenizer, translate_to=self.translate_to)
        self._shar_stream = ShardStream(self._shards, cfg, dataset.__getitem__)
        return StreamLoader(self._shar_stream, self._shar_position, self.num_workers)

    def _shar_position(self) -> tuple[int, int]:
        """(epoch, batches of it already taken) for the stream's next iterator: the restored count once."""
        epoch = self.trainer.current_epoch if self.trainer is not None else self._epoch
        pending, self._pending = self._pending, None
        skip = int(pending["shar"]["consumed"]) if pending and "shar" in pending and \
            int(pending["shar"]["epoch"]) == epoch else 0
        self._epoch, self._consumed = epoch, skip
        return epoch, skip

    def val_dataloader(self) -> DataLoader:
        return self._loader(ASRDataset(self.sample_rate, tokenizer=self.tokenizer, translate_to=self.translate_to),
                            self.make_sampler(self.cuts("valid"), shuffle=False))

    def test_dataloader(self) -> DataLoader:
        return self._loader(ASRDataset(self.sample_rate, tokenizer=self.tokenizer, translate_to=self.translate_to),
                            self.make_sampler(self.cuts("test"), shuffle=False))

    def _loader(self, dataset: ASRDataset, sampler: DynamicBucketingSampler) -> DataLoader:
        # batch_size=None: the sampler yields whole batches (CutSets) and the dataset collates them.
        return DataLoader(
            dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
            persistent_workers=False,
        )

    def _same_batches(self, state: dict, sampler: DynamicBucketingSampler) -> bool:
        """Whether a checkpoint's mid-epoch sampler state can be replayed exactly here: the same world size and
        batch size. Otherwise (resuming on another number of GPUs) the interrupted epoch starts again, as ESPnet
        resumes at epoch boundaries, and one line says so; the optimiser step and learning rate go on."""
        old_world = int(state.get("world_size", 1))
        old_batch = float(state.get("max_duration") or 0)
        same = old_world == sampler.world_size and abs(old_batch - float(sampler.max_duration)) < 1e-6
        if not same and (self.trainer is None or self.trainer.is_global_zero):
            log.warning("this checkpoint was taken mid-epoch %d on %d device(s) with %.1f s batches; here %d "
                        "device(s) take %.1f s batches, so that epoch's batches cannot be replayed: epoch %d starts "
                        "again from its beginning (the optimiser step and learning rate go on)",
                        state["epoch"], old_world, old_batch, sampler.world_size, sampler.max_duration,
                        state["epoch"])
        return same

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    # ---- exact resume --------------------------------------------------------------------------------------------
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Count training batches as the training loop takes them (workers may have prefetched more)."""
        trainer = self.trainer
        if trainer is not None and not trainer.training:  # validation, sanity check, test
            return batch
        sampler_epoch = self._train_sampler.epoch if self._train_sampler is not None else 0
        epoch = trainer.current_epoch if trainer is not None else sampler_epoch
        if epoch != self._epoch:
            self._epoch, self._consumed = epoch, 0
        self._consumed += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        if self.shar_dirs:
            if self._pending:
                return copy.deepcopy(self._pending)
            trainer = self.trainer
            if trainer is not None and trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
                return {"shar": {"epoch": self._epoch + 1, "consumed": 0}}
            return {"shar": {"epoch": self._epoch, "consumed": self._consumed}}
        if self._train_sampler is None:
            return copy.deepcopy(self._pending) if self._pending else {}
        if self._epoch_taken():
            # A checkpoint after the epoch's last batch (at the epoch's end, or before its validation) resumes at
            # the next epoch's start. lhotse's own state would restore the sampler at this epoch's end, and Lightning
            # makes the first iterator of a resumed run before it sets the new epoch: that iterator would be empty.
            return {"next_epoch": self._train_sampler.epoch + 1}
        state = copy.deepcopy(self._train_sampler.state_dict())
        # lhotse fast-forwards a restored sampler by the batch count of its current epoch; make that the batches
        # the loop consumed rather than those the sampler handed to prefetching workers.
        epoch = state["epoch"]
        stats = state["diagnostics"]["stats_per_epoch"][epoch]
        stats["kept_batches"] = self._consumed if epoch == self._epoch else 0
        stats["discarded_batches"] = 0
        return {"sampler": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "shar" in state_dict:
            self._pending = {"shar": dict(state_dict["shar"])}
            self._epoch, self._consumed = int(state_dict["shar"]["epoch"]), int(state_dict["shar"]["consumed"])
            return
        if "next_epoch" in state_dict:
            self._pending = {"next_epoch": int(state_dict["next_epoch"])}
            self._epoch, self._consumed = self._pending["next_epoch"], 0
            return
        state = state_dict.get("sampler")
        if not state:
            return
        self._pending = {"sampler": copy.deepcopy(state)}
        self._epoch = state["epoch"]
        self._consumed = state["diagnostics"]["stats_per_epoch"][self._epoch]["kept_batches"]

    def _epoch_taken(self) -> bool:
        """Whether the training loop has taken the last batch of the sampler's current epoch."""
        trainer = self.trainer
        if trainer is None or self._train_sampler is None or self._epoch != self._train_sampler.epoch:
            return False
        return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def speed_copies(cuts: CutSet, factors: list[float]) -> CutSet:
    """One copy of every cut at each speed factor (1.0: the cut itself), as one eager CutSet; copies get ids
    suffixed `_sp<factor>` (lhotse's convention)."""
    copies = [cuts if f == 1.0 else cuts.perturb_speed(f) for f in factors]
    return CutSet.from_cuts(c for s in copies for c in s)


def load_repeated(paths: list[str], repeats: list[int]) -> CutSet:
    """The cuts of each manifest `repeats[i]` times (copies get ids suffixed `_repeat<k>`), as one eager CutSet."""
    sets = [load_cuts(p) if r == 1 else load_cuts(p).repeat(times=r).to_eager() for p, r in zip(paths, repeats)]
    return CutSet.from_cuts(c for s in sets for c in s)


def _check_repeats(repeats: list[int] | None, paths: list[str]) -> list[int] | None:
    if repeats is None:
        return None
    repeats = [int(r) for r in repeats]
    if len(repeats) != len(paths) or min(repeats, default=1) < 1:
        raise UserError(f"data.train_repeats {repeats} needs one whole number >= 1 per train manifest "
                        f"({len(paths)} given)")
    return repeats


def _as_list(manifests: Manifests) -> list[str]:
    if manifests is None:
        return []
    return [str(m) for m in ([manifests] if isinstance(manifests, (str, Path)) else manifests)]
