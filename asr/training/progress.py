"""Training's progress bar with the run's budget as its total: optimiser steps of `trainer.max_steps`, or epochs
of `trainer.max_epochs`.

Lightning's bar counts the batches of an epoch, and lhotse's bucketing sampler does not know how many an epoch holds
until it has made them, so it showed `0/?`. This one is a single bar for the whole run: `412/1000` steps, or
`2.40/30` epochs (the share of an epoch from the batch count of the one before; the first counts when it ends),
with Lightning's rate, time left and metrics. `asr fit` puts it in place of Lightning's default bar
(asr/training/cli.py), so the bar is the same whether or not rich is installed.
"""

from __future__ import annotations

import sys

from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class BudgetProgressBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 1, process_position: int = 0) -> None:
        super().__init__(refresh_rate, process_position)
        self._epoch_batches: int | None = None  # batches in the last whole epoch
        self._batches = 0  # batches of this epoch so far

    def init_train_tqdm(self) -> Tqdm:
        trainer = self.trainer
        total, unit = budget(trainer)
        # a resumed run's bar starts where its checkpoint was, and its rate counts from there
        return Tqdm(desc=self.train_description, position=2 * self.process_position, disable=self.is_disabled,
                    leave=True, dynamic_ncols=True, file=sys.stdout, smoothing=0, bar_format=self.BAR_FORMAT,
                    total=total, unit=f" {unit}", initial=self._done(trainer))

    def on_train_epoch_start(self, trainer, *_) -> None:  # one bar for the run: not reset each epoch
        self._batches = 0
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._batches = batch_idx + 1
        bar = self.train_progress_bar
        if self._should_update(self._batches, bar.total) and not bar.disable:
            bar.n = self._done(trainer)
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # refreshes the bar

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._epoch_batches = self._batches or self._epoch_batches
        if not self.train_progress_bar.disable:
            self.train_progress_bar.n = self._done(trainer)  # a whole epoch more (refreshed by Lightning's end)
        super().on_train_epoch_end(trainer, pl_module)

    def _done(self, trainer) -> float:
        """Steps taken, or epochs done (the current one's share of the last whole epoch's batches)."""
        if trainer.max_steps > 0:
            return trainer.global_step
        if self._epoch_batches:
            return round(trainer.current_epoch + min(self._batches / self._epoch_batches, 1.0), 2)
        return trainer.current_epoch


def budget(trainer) -> tuple[int | None, str]:
    """(total, unit) of the run's budget: (max_steps, "steps") or (max_epochs, "epochs"); None when unbounded."""
    if trainer.max_steps > 0:
        return trainer.max_steps, "steps"
    epochs = trainer.max_epochs
    return (epochs if epochs and epochs > 0 else None), "epochs"


def use_budget_bar(trainer) -> None:
    """Put a BudgetProgressBar in place of Lightning's default bar (there with enable_progress_bar: TQDM's, or
    Rich's where rich is installed), keeping a TQDM bar's settings; subclasses and other bars stay."""
    for i, cb in enumerate(trainer.callbacks):
        if type(cb) is TQDMProgressBar:
            trainer.callbacks[i] = BudgetProgressBar(cb.refresh_rate, cb.process_position)
        elif type(cb) is RichProgressBar:  # its refresh rate is per second, not per batch
            trainer.callbacks[i] = BudgetProgressBar()
