"""The training system: a LightningModule around `ASRModel` (losses, optimiser, schedule, logging).

Nothing model-specific lives here. The tokenizer and the CMVN statistics are built from the training data in
`setup()` on the first run and travel inside every checkpoint (`on_save_checkpoint`), so a resumed, validated
or exported checkpoint never depends on the data being present.
"""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass, field

import lightning as L
import numpy as np
import torch

from asr.decoding.options import DecodeOptions
from asr.metrics import error_report
from asr.model import ASRModel, ModelConfig, pad_targets
from asr.tokenizer import Tokenizer, tokenizer_from_state
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
            "tokenizer": asdict(self.tok_cfg), "task": asdict(self.task_cfg),
        })
        self.net: ASRModel | None = None
        self.tokenizer: Tokenizer | None = None
        self._scored: list[tuple[str, str]] = []  # (reference, hypothesis) of this validation or test epoch
        self._rng_to_restore: dict | None = None

    # ---- building -------------------------------------------------------------------------------------
    def build(self, tokenizer: Tokenizer) -> None:
        """Create the network for `tokenizer`'s vocabulary (replacing any earlier one)."""
        self.tokenizer = tokenizer
        self.model_cfg.vocab_size = tokenizer.vocab_size
        self.net = ASRModel(self.model_cfg)

    def setup(self, stage: str) -> None:
        if self.net is not None:
            return
        from asr.data.stats import compute_cmvn, train_tokenizer_from_cuts

        dm = self.trainer.datamodule
        cuts = dm.train_cuts()
        self.build(train_tokenizer_from_cuts(cuts, self.tok_cfg.kind, self.tok_cfg.vocab_size))
        mean, std = compute_cmvn(cuts, n_mels=self.model_cfg.frontend.n_mels, max_cuts=self.task_cfg.cmvn_utterances)
        self.net.cmvn.set_stats(mean, std)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["asr_tokenizer"] = self.tokenizer.state()
        checkpoint["asr_model_config"] = self.model_cfg.to_dict()
        checkpoint["asr_rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        tok = tokenizer_from_state(checkpoint["asr_tokenizer"])
        if self.tokenizer is None or self.tokenizer.state() != tok.state():
            self.build(tok)
        self._rng_to_restore = checkpoint.get("asr_rng")

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        # Restored here, not on load: building the dataloader after loading draws from the global generators.
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

    # ---- steps ----------------------------------------------------------------------------------------
    def _losses(self, batch: dict):
        ids = [self.tokenizer.encode(t) for t in batch["text"]]
        targets, target_lens = pad_targets(ids, self.device)
        return self.net(batch["audio"], batch["audio_lens"], targets, target_lens)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch)
        B = len(batch["text"])
        self.log_dict(
            {"train/loss": losses.loss, "train/ctc": losses.ctc, "train/att": losses.att, "train/acc": losses.att_acc},
            batch_size=B, prog_bar=False,
        )
        self.log("loss", losses.loss, batch_size=B, prog_bar=True, logger=False)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=B, prog_bar=True)
        return losses.loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._score_batch(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._score_batch(batch, "test")

    def _score_batch(self, batch: dict, prefix: str) -> None:
        """Losses, and the batch decoded with the decoding policy (`asr.decoding.policy`, `TaskConfig.decode`)."""
        from asr.decoding.policy import decode_encoded

        B = len(batch["text"])
        losses = self._losses(batch)
        self.log_dict({f"{prefix}/loss": losses.loss, f"{prefix}/ctc": losses.ctc, f"{prefix}/att": losses.att},
                      batch_size=B, sync_dist=True)
        enc, enc_lens, _ = self.net.encode(batch["audio"], batch["audio_lens"])
        hyps = decode_encoded(self.net, enc, enc_lens, self.task_cfg.decode)
        self._scored += [(ref, self.tokenizer.decode(h)) for ref, h in zip(batch["text"], hyps)]

    def on_validation_epoch_end(self) -> None:
        self._log_error_rates("val")

    def on_test_epoch_end(self) -> None:
        self._log_error_rates("test")

    def _log_error_rates(self, prefix: str) -> None:
        if not self._scored:
            return
        r = error_report([a for a, _ in self._scored], [b for _, b in self._scored])
        self._scored = []
        # Sum error counts over DDP ranks, then divide: a rank-weighted mean of WERs would be wrong.
        word_errors = r.substitutions + r.deletions + r.insertions
        counts = torch.tensor([word_errors, r.words, r.char_errors, r.chars], dtype=torch.float64, device=self.device)
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        self.log(f"{prefix}_wer", (counts[0] / counts[1].clamp(min=1)).float(), prog_bar=True)
        self.log(f"{prefix}_cer", (counts[2] / counts[3].clamp(min=1)).float(), prog_bar=True)

    # ---- optimisation ---------------------------------------------------------------------------------
    def configure_optimizers(self):
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
            elapsed = timer.time_elapsed("train")
            return lr_factor(step, cfg, time_progress=elapsed / (elapsed + timer.time_remaining("train")))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _budget_timer(self):
        """Lightning's Timer callback when the run is bounded by `trainer.max_time`, else None."""
        from lightning.pytorch.callbacks import Timer

        for cb in self.trainer.callbacks:
            if isinstance(cb, Timer) and cb.time_remaining("train") is not None:
                return cb
        return None


def rng_state() -> dict:
    """Dropout and SpecAugment draw from these; saved so a resumed run continues the same random streams."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"]))
