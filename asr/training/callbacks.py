"""A Lightning callback that draws one fixed validation utterance's attention after every validation epoch, so
the alignment can be watched forming (a blur, then a diagonal).

    trainer:
      callbacks:
        - class_path: asr.training.callbacks.AttentionPlot
          init_args: {every_n_epochs: 1}      # optional: audio: some.wav, text: "what it says"

The decoder is teacher-forced on the reference text (as the loss sees it), so the picture shows where each
reference token looks, whatever the model would output. PNGs go to `<log dir>/attention/epoch=NNN.png` and, with
a TensorBoard logger, to its images tab.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

from asr.plots import attention_maps, draw
from asr.text import cut_text


class AttentionPlot(L.Callback):
    def __init__(self, audio: str | None = None, text: str | None = None, every_n_epochs: int = 1,
                 out_dir: str | None = None) -> None:
        """audio/text: the utterance to draw; default the first validation cut (by id) and its transcript."""
        self.audio, self.text = audio, text
        self.every_n_epochs = max(1, every_n_epochs)
        self.out_dir = out_dir
        self._wave = None
        self.written: list[Path] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        net, tokenizer = getattr(pl_module, "net", None), getattr(pl_module, "tokenizer", None)
        if net is None or tokenizer is None:
            return
        if self._wave is None:
            self._wave, self.text = self._utterance(trainer, net.cfg.frontend.sample_rate)
        import matplotlib.pyplot as plt

        epoch = trainer.current_epoch
        maps = attention_maps(net, tokenizer, self._wave, tokenizer.encode(self.text), self.text)
        fig = draw(maps, f"epoch {epoch}: {self.text!r}")
        path = self._dir(trainer) / f"epoch={epoch:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        experiment = getattr(trainer.logger, "experiment", None)
        if hasattr(experiment, "add_figure"):
            experiment.add_figure("attention", fig, global_step=trainer.global_step)
        plt.close(fig)
        self.written.append(path)

    def _utterance(self, trainer: L.Trainer, sample_rate: int):
        from asr.audio import load_audio, resample

        if self.audio is not None:
            return load_audio(self.audio, sample_rate), self.text
        dm = trainer.datamodule
        cut = min(dm.cuts("valid"), key=lambda c: c.id)
        wave = resample(cut.load_audio().mean(axis=0), cut.sampling_rate, sample_rate)
        text = self.text or cut_text(cut)
        return wave, text

    def _dir(self, trainer: L.Trainer) -> Path:
        if self.out_dir:
            return Path(self.out_dir)
        return Path(trainer.log_dir or trainer.default_root_dir) / "attention"
