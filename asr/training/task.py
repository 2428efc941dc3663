"""The training system: a LightningModule around `ASRModel` (losses, optimiser, schedule, logging).

Nothing model-specific lives here, and the data is not read here: the tokenizer and the CMVN statistics are files
made before training (`model.tokenizer_file`, `model.cmvn_file`; by default tokenizer.json and cmvn.json in the run
folder: asr/training/prepare.py), read in `setup()`, and the data loader's workers tokenise the transcripts (the
batch's `targets`). Both travel inside every checkpoint (`on_save_checkpoint`), so a resumed, validated or exported
checkpoint depends on neither the files nor the data; a resume takes them from its checkpoint. With `init_from:
MODEL.pt` (`asr fit --init-from`) they, and the weights, come from that model file instead: fine-tuning
(`asr.training.init_from`).

Checkpoints also carry what the model's card (asr.model.card) needs and only the run knows: the training
manifests and hours, the recipe, the code version, the model it started from, and the vocabulary score's
distribution on the dev set at the last validation (asr.inference.coverage); `asr test` leaves its WER beside the
checkpoint it scored (`<checkpoint>.test.json`) for `asr export` to put on the card.

Resuming is exact wherever the checkpoint was taken: each training batch seeds the random generators from the
run's seed and the batch's position (`seed_batch`), so dropout draws the same numbers in a resumed run as in an
uninterrupted one, whatever drew from the generators in between (making a dataloader iterator, validation).
A cosine over `trainer.max_time` continues from the progress the checkpoint recorded (`_clock_progress`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch

from asr.decoding.options import DecodeOptions
from asr.errors import UserError
from asr.inference.coverage import SCORE, transcript_fit
from asr.metrics import error_report
from asr.model import ASRModel, ModelConfig
from asr.model.card import Result
from asr.tokenizer import Tokenizer, tokenizer_from_state
from asr.training.card import RunFacts, dev_calibration, record_test_result
from asr.training.plan import warmup_warning
from asr.training.resume import finish_epoch_end
from asr.training.schedules import OptimConfig, adamw, lr_factor


@dataclass
class TokenizerConfig:
    kind: str = "char"  # char | word | bpe | unigram
    vocab_size: int = 256  # bpe/unigram only


@dataclass
class TaskConfig:
    cmvn_utterances: int = 2000  # utterances sampled from the training set for the CMVN statistics
    # How validation and test decode: the decoding policy `asr evaluate` uses, with its defaults, so val_wer
    # (which picks the best checkpoints) measures what test WER measures. A recipe may choose a cheaper search
    # (beam 1) to spend its time budget on training; its YAML then says so.
    decode: DecodeOptions = field(default_factory=DecodeOptions)

    @classmethod
    def from_dict(cls, d: dict) -> TaskConfig:
        d = dict(d)
        d.pop("val_max_len_ratio", None)  # checkpoints before the decoding policy: validation was greedy
        decode = d.pop("decode", None)
        return cls(**d, decode=DecodeOptions(**decode) if isinstance(decode, dict) else (decode or DecodeOptions()))


class ASRTask(L.LightningModule):
    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008 - copied below, never mutated
        optim: OptimConfig = OptimConfig(),  # noqa: B008
        tokenizer: TokenizerConfig = TokenizerConfig(),  # noqa: B008
        task: TaskConfig = TaskConfig(),  # noqa: B008
        init_from: str | None = None,  # a model file (asr export): training starts from its weights, units, CMVN
        # made by `asr prepare-training` (or `asr fit`); None: tokenizer.json / cmvn.json in trainer.default_root_dir
        tokenizer_file: str | None = None,
        cmvn_file: str | None = None,
    ) -> None:
        super().__init__()
        # Dicts are accepted too: that is how hyperparameters come back from a checkpoint.
        self.model_cfg = ModelConfig.from_dict(model) if isinstance(model, dict) else copy.deepcopy(model)
        self.optim_cfg = OptimConfig(**optim) if isinstance(optim, dict) else optim
        self.tok_cfg = TokenizerConfig(**tokenizer) if isinstance(tokenizer, dict) else tokenizer
        self.task_cfg = TaskConfig.from_dict(task) if isinstance(task, dict) else task
        # Plain dicts keep checkpoints loadable with torch.load(weights_only=True), Lightning's default.
        self.save_hyperparameters({
            "model": self.model_cfg.to_dict(), "optim": asdict(self.optim_cfg),
            "tokenizer": asdict(self.tok_cfg), "task": asdict(self.task_cfg), "init_from": init_from,
            "tokenizer_file": tokenizer_file, "cmvn_file": cmvn_file,
        })
        self.init_from = init_from
        self.tokenizer_file, self.cmvn_file = tokenizer_file, cmvn_file
        self.facts = RunFacts()  # for the model card: set in setup (data, code) and by the CLI (recipe)
        self._coverage: list[float] = []  # transcript fits of this validation's utterances (this rank's)
        self._calibration: dict | None = None  # their distribution at the last validation
        self.net: ASRModel | None = None
        self.tokenizer: Tokenizer | None = None
        self._scored: list[tuple[str, str]] = []  # (reference, hypothesis) of this validation or test epoch
        self._seed: int | None = None  # the run's seed: set at its first fit, then carried by its checkpoints
        self._clock_anchor = (0.0, 0.0)  # (seconds trained, schedule progress) the clock-driven cosine goes on from
        self._micro_step, self._micro = -1, 0  # the optimiser step and micro-batch last seeded
        self._step_audio = 0.0  # seconds of audio in this rank's micro-batches since the last optimiser step

    # ---- building -------------------------------------------------------------------------------------
    def build(self, tokenizer: Tokenizer) -> None:
        """Create the network for `tokenizer`'s vocabulary (replacing any earlier one)."""
        self.tokenizer = tokenizer
        self.model_cfg.vocab_size = tokenizer.vocab_size
        self.net = ASRModel(self.model_cfg)

    def setup(self, stage: str) -> None:
        if self.net is not None:
            return
        if stage == "fit" and self.trainer.is_global_zero:
            self.facts = self.facts.of_run(self.trainer.datamodule, self.init_from)
        if self.init_from:
            self._start_from_file()
        else:
            self._start_from_files()

    def _start_from_files(self) -> None:
        """The tokenizer and CMVN statistics of the files made before training (every rank reads them). Without
        them, a checkpoint restored next brings both (`on_load_checkpoint`: a run begun before the files existed)."""
        from asr.training.prepare import input_files, read_inputs

        root = self.trainer.default_root_dir
        if not all(p.is_file() for p in input_files(self, root)):
            return  # configure_optimizers says what is missing when no checkpoint brings them
        tokenizer, mean, std = read_inputs(self, root)
        self.build(tokenizer)
        self.net.cmvn.set_stats(mean, std)

    def _start_from_file(self) -> None:
        """The weights, tokenizer and CMVN statistics of the model file `init_from` (every rank reads it)."""
        from asr.training.init_from import start_from

        tokenizer, weights = start_from(self.init_from, self.model_cfg, self.tok_cfg)
        self.build(tokenizer)
        self.net.load_state_dict(weights)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["asr_tokenizer"] = self.tokenizer.state()
        checkpoint["asr_model_config"] = self.model_cfg.to_dict()
        checkpoint["asr_seed"] = self._seed
        checkpoint["asr_card"] = {**self.facts.to_dict(), "calibration": self._calibration}
        timer = self._budget_timer() if self._trainer is not None else None
        if timer is not None:
            elapsed = timer.time_elapsed("train")
            checkpoint["asr_clock"] = {"elapsed": elapsed, "progress": self._clock_progress(timer, elapsed)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        finish_epoch_end(checkpoint)  # before Lightning reads the loop state from it
        tok = tokenizer_from_state(checkpoint["asr_tokenizer"])
        if self.tokenizer is None or self.tokenizer.state() != tok.state():
            self.build(tok)
        if checkpoint.get("asr_seed") is not None:
            self._seed = int(checkpoint["asr_seed"])
        card = checkpoint.get("asr_card") or {}
        if self.facts.corpora is None and card:  # validate / test: the run's facts are the checkpoint's
            self.facts = RunFacts.from_dict(card)
        self._calibration = self._calibration or card.get("calibration")
        if "asr_clock" in checkpoint:
            clock = checkpoint["asr_clock"]
            self._clock_anchor = (float(clock["elapsed"]), float(clock["progress"]))

    def on_fit_start(self) -> None:
        self._check_same_tokenizer()
        if self._seed is None:  # a fresh run: the seed `seed_everything` (or torch) started the process with
            self._seed = int(torch.initial_seed())
        timer = self._budget_timer()
        if timer is not None and timer.time_remaining("train") <= 0 and self.trainer.is_global_zero:
            # Lightning only says "Time limit reached" and trains nothing: say how to go on
            trained = timer.time_elapsed("train")
            budget = trained + timer.time_remaining("train")
            print(f"warning: this run has trained {dhms(trained)} of its max_time {dhms(budget)}; to train on, resume "
                  f"with more time, e.g. --trainer.max_time {dhms(2 * budget)} (the learning-rate schedule goes on "
                  "from where it stopped)", file=sys.stderr)
        steps = [n for n in (self.optim_cfg.total_steps, self.trainer.max_steps) if n and n > 0]
        warning = warmup_warning(self.optim_cfg.warmup_steps, min(steps)) if steps else None
        if warning and self.trainer.is_global_zero:
            print(warning, file=sys.stderr)

    def _check_same_tokenizer(self) -> None:
        """Every rank must hold the same tokenizer (trained once, or read from the same checkpoint)."""
        if self.trainer.world_size <= 1:
            return
        digest = hashlib.sha256(json.dumps(self.tokenizer.state(), sort_keys=True).encode()).digest()
        mine = torch.tensor([int.from_bytes(digest[:7], "little")], dtype=torch.int64, device=self.device)
        every = self.trainer.strategy.all_gather(mine).reshape(-1)
        if not bool((every == every[0]).all()):
            raise UserError(f"the ranks hold different tokenizers ({every.tolist()}); start the run again from one "
                            "checkpoint, or delete the run folder to train a new tokenizer")

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        # By optimiser step (restored exactly by every checkpoint; Lightning's batch_idx is not after some resumes)
        # and micro-batch within it (gradient accumulation).
        step = self.trainer.global_step
        self._micro = self._micro + 1 if step == self._micro_step else 0
        self._micro_step = step
        seed_batch(self._seed or 0, self.trainer.global_rank, step, self._micro)

    # ---- steps ----------------------------------------------------------------------------------------
    def _targets(self, batch: dict):
        """The target ids (B, U) and lengths (B,) the data loader's workers made of the batch's transcripts."""
        if "targets" not in batch:
            raise UserError("the batches carry no target ids: the data module needs the run's tokenizer "
                            "(asr.training.prepare.prepare_run gives it one before the Trainer starts; asr fit does)")
        return batch["targets"], batch["target_lens"]

    def _losses(self, batch: dict, targets=None):
        targets, target_lens = targets if targets is not None else self._targets(batch)
        if self.model_cfg.task == "translate" and "ctc_targets" not in batch:
            raise UserError("a translation model's batches carry no source transcripts for its CTC head: the data "
                            "module needs translate_to (asr.training.prepare.prepare_run sets it; asr fit does)")
        return self.net(batch["audio"], batch["audio_lens"], targets, target_lens, batch.get("ctc_targets"),
                        batch.get("ctc_target_lens"))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch)
        B = len(batch["text"])
        self.log_dict(
            {"train/loss": losses.loss, "train/ctc": losses.ctc, "train/att": losses.att, "train/acc": losses.att_acc},
            batch_size=B, prog_bar=False,
        )
        self.log("loss", losses.loss, batch_size=B, prog_bar=True, logger=False)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=B, prog_bar=True)
        self._step_audio += float(batch["audio_lens"].sum()) / self.model_cfg.frontend.sample_rate
        return losses.loss

    def on_before_optimizer_step(self, optimizer) -> None:
        # The audio this optimiser step learnt from: every micro-batch on every rank (asr/training/plan.py)
        total = torch.tensor(self._step_audio, dtype=torch.float64, device=self.device)
        self._step_audio = 0.0
        total = self.trainer.strategy.reduce(total, reduce_op="sum")
        self.log("train/audio_s", total.float(), on_step=True, on_epoch=False, batch_size=1, rank_zero_only=True)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._score_batch(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._score_batch(batch, "test")

    def _score_batch(self, batch: dict, prefix: str) -> None:
        """Losses, and the batch recognised with the decoding policy (`TaskConfig.decode`) from the encoder output
        the losses were computed from: the encoder runs once (`asr.decoding.recognition`, as `asr transcribe`)."""
        from asr.decoding.recognition import recognise_encoded

        B = len(batch["text"])
        targets = self._targets(batch)
        losses = self._losses(batch, targets)
        self.log_dict({f"{prefix}/loss": losses.loss, f"{prefix}/ctc": losses.ctc, f"{prefix}/att": losses.att},
                      batch_size=B, sync_dist=True)
        # ESPnet's `acc`: the attention decoder's token accuracy under teacher forcing, weighted by tokens;
        # recipes that follow ESPnet pick and average checkpoints by it (`monitor: val_acc`, mode max)
        tokens = int(targets[1].sum()) + B  # each target and its <eos>
        self.log(f"{prefix}_acc", losses.att_acc, batch_size=tokens, sync_dist=True)
        rec = recognise_encoded(self.net, losses.enc, losses.enc_lens, self.task_cfg.decode, self.tokenizer,
                                log_probs=losses.log_probs)
        if prefix == "val" and not self.trainer.sanity_checking:  # the dev distribution of the vocabulary check
            self._coverage += transcript_fit(rec.log_probs, rec.enc_lens, rec.tokens).tolist()
        self._scored += list(zip(batch["text"], rec.texts))

    def on_validation_epoch_end(self) -> None:
        self._log_error_rates("val")
        if self._coverage:  # rank 0's share of the dev set: a sample is all a percentile needs
            self._calibration = dev_calibration(self._coverage, self.trainer.global_step, SCORE)
            self._coverage = []

    def on_test_epoch_end(self) -> None:
        counts = self._log_error_rates("test")
        ckpt = self.trainer.ckpt_path
        if counts is not None and ckpt and self.trainer.is_global_zero and Path(ckpt).is_file():
            wer, cer, utterances = counts
            test_set = ", ".join(getattr(self.trainer.datamodule, "manifests", {}).get("test") or ["?"])
            record_test_result(ckpt, Result(test_set, round(wer, 6), round(cer, 6), utterances,
                                            f"asr test of {Path(ckpt).name}"))

    def _log_error_rates(self, prefix: str) -> tuple[float, float, int] | None:
        """Log `<prefix>_wer` and `_cer` of the scored utterances (all ranks'): -> (wer, cer, utterances)."""
        if not self._scored:
            return None
        refs, hyps = [a for a, _ in self._scored], [b for _, b in self._scored]
        r = error_report(refs, hyps)
        utterances = len(self._scored)
        self._scored = []
        if self.model_cfg.task == "translate" and self.trainer.world_size == 1:  # corpus BLEU does not sum over ranks
            from asr.bleu import translation_scores

            self.log(f"{prefix}_bleu", float(translation_scores(refs, hyps).bleu), prog_bar=True)
        # Sum error counts over DDP ranks, then divide: a rank-weighted mean of WERs would be wrong.
        word_errors = r.substitutions + r.deletions + r.insertions
        counts = torch.tensor([word_errors, r.words, r.char_errors, r.chars, utterances], dtype=torch.float64,
                              device=self.device)
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        wer, cer = counts[0] / counts[1].clamp(min=1), counts[2] / counts[3].clamp(min=1)
        self.log(f"{prefix}_wer", wer.float(), prog_bar=True)
        self.log(f"{prefix}_cer", cer.float(), prog_bar=True)
        return float(wer), float(cer), int(counts[4])

    # ---- optimisation ---------------------------------------------------------------------------------
    def configure_optimizers(self):
        if self.net is None:  # no files read in setup, and no checkpoint restored
            raise UserError("the model has no tokenizer and CMVN statistics to be built with: make them with "
                            "`asr prepare-training` (asr fit does it itself), or call asr.training.prepare.prepare_run "
                            "before trainer.fit")
        cfg = self.optim_cfg
        # Lightning's mixed-precision plugin refuses to clip the gradients of an optimizer that unscales them
        # itself (fused AdamW): with bf16-mixed/16-mixed and clipping, the foreach AdamW instead.
        mixed = "mixed" in str(self.trainer.precision)
        opt = adamw(self.net, cfg, fused=not (mixed and (self.trainer.gradient_clip_val or 0) > 0))
        total = cfg.total_steps or (self.trainer.max_steps if self.trainer.max_steps > 0 else 0)
        timer = None
        if cfg.schedule == "cosine" and total <= 0:  # bounded by max_time (decay over the clock) or by epochs
            timer = self._budget_timer()
            if timer is None:
                total = int(self.trainer.estimated_stepping_batches)

        def factor(step: int) -> float:
            if timer is None:
                return lr_factor(step, cfg, total)
            return lr_factor(step, cfg, time_progress=self._clock_progress(timer, timer.time_elapsed("train")))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _clock_progress(self, timer, elapsed: float) -> float:
        """How far the clock-driven cosine is after `elapsed` seconds of training: from the (seconds, progress) the
        run was resumed at, the rest of the way spread over the time left in the budget. With the budget a run
        started with this is elapsed / max_time; with a larger one the schedule goes on from where it stopped
        instead of jumping back up (a finished cosine stays at its floor)."""
        t0, p0 = self._clock_anchor
        budget = elapsed + timer.time_remaining("train")
        if budget <= t0:
            return p0
        return min(1.0, p0 + (1.0 - p0) * max(elapsed - t0, 0.0) / (budget - t0))

    def _budget_timer(self):
        """Lightning's Timer callback when the run is bounded by `trainer.max_time`, else None."""
        from lightning.pytorch.callbacks import Timer

        for cb in self.trainer.callbacks:
            if isinstance(cb, Timer) and cb.time_remaining("train") is not None:
                return cb
        return None


def dhms(seconds: float) -> str:
    """Seconds as Lightning's max_time string, DD:HH:MM:SS."""
    s = int(round(seconds))
    return f"{s // 86400:02d}:{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def seed_batch(seed: int, *position: int) -> None:
    """Seed torch (CPU and GPUs), numpy and random for one training batch from the run's seed and the batch's
    position (rank, optimiser step, micro-batch). Dropout and SpecAugment then draw the same numbers for a batch
    however the run got there, and each rank its own numbers."""
    words = np.random.SeedSequence([int(seed), *map(int, position)]).generate_state(2)  # mixes the position well
    s = int(words[0]) | (int(words[1]) << 32)
    torch.manual_seed(s)
    np.random.seed(int(words[0]))
    random.seed(s)
