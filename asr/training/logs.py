"""The recipes' CSV logger: Lightning's CSVLogger, except that a run never deletes an earlier run's logs.

With a fixed folder (`version: ""`, which keeps `<save_dir>/checkpoints/` where `--ckpt_path last` finds it),
Lightning's writer deletes the metrics.csv it finds there when a run starts, so resuming a killed or finished run
threw its logs away. Here each run in the folder writes the first free pair of names instead: metrics.csv and
hparams.yaml, then metrics.1.csv and hparams.1.yaml, ... (rows of a resumed run start at its checkpoint's step).

    trainer:
      logger:
        class_path: asr.training.logs.RunCSVLogger
        init_args: {save_dir: exp/fsdd, name: "", version: ""}
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


def run_file_names(log_dir: str) -> tuple[str, str]:
    """(metrics, hparams) file names of the next run in `log_dir`: the first index free for both."""
    for i in itertools.count():
        tag = f".{i}" if i else ""
        names = (f"metrics{tag}.csv", f"hparams{tag}.yaml")
        if not any(os.path.exists(os.path.join(log_dir, n)) for n in names):
            return names
    raise AssertionError("unreachable")


class _KeepingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:  # Lightning's deletes metrics.csv here
        metrics, self._hparams_name = run_file_names(self.log_dir)
        self.metrics_file_path = os.path.join(self.log_dir, metrics)

    def log_hparams(self, params: dict[str, Any]) -> None:
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self._hparams_name), self.hparams)


class RunCSVLogger(CSVLogger):
    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment
