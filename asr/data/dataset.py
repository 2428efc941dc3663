"""A map-style dataset whose index is a whole mini-batch of cuts (lhotse's convention): cuts in, padded audio out.

Batch schema (what `ASRDataset()[cuts]` returns)::

    {
        "audio": FloatTensor (B, S),   # mono waveforms at `sample_rate`, zero-padded on the right
        "audio_lens": LongTensor (B,), # valid samples of each row
        "text": list[str],             # transcripts after asr.text.normalise_text (supervisions joined by a space)
        "ids": list[str],              # cut ids (unchanged by speed perturbation), for tracing and resume checks
        # with a tokenizer (`ASRDataset(..., tokenizer=tok)`; the data module's is the run's):
        "targets": LongTensor (B, U),  # tokenizer.encode(text) of each row, padded with -1 (asr.model's IGNORE)
        "target_lens": LongTensor (B,),# tokens in each row
        # speech translation (`translate_to="en"`): "text" and "targets" are the translation, and
        "source_text": list[str],      # the transcripts, normalised
        "ctc_targets": LongTensor (B, U_src), "ctc_target_lens": LongTensor (B,),  # the CTC head's: the transcripts
    }

Dimension symbols: B batch size, S samples, U tokens. Transcripts are tokenised here, in the loader's worker
processes, so the training step only moves tensors. Features (B, T, F) are computed inside the model, not here, so
the same batches serve any frontend. A cut whose audio cannot be read is dropped from its batch with a warning
instead of stopping training.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import torch
from lhotse import CutSet
from lhotse.dataset.collation import collate_audio

from asr.data.augment import add_noise, band_limit, perturb_speed, reverberate, rir_bank
from asr.errors import UserError
from asr.model import pad_targets
from asr.text import cut_text, cut_translation, normalise_text
from asr.tokenizer import Tokenizer

log = logging.getLogger(__name__)
RIR_BANK = 200  # synthetic rooms a training run draws from (~6 s to make, once)


class ASRDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        sample_rate: int = 16000,
        speed_perturb: Sequence[float] | None = None,
        noise_snr_db: tuple[float, float] | None = None,
        noise_prob: float = 0.5,
        band_limit_prob: float = 0.0,
        band_limit_hz: tuple[float, float] = (3400.0, 4000.0),
        reverb_prob: float = 0.0,
        reverb_max_t60: float = 0.8,
        tokenizer: Tokenizer | None = None,
        translate_to: str | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.tokenizer = tokenizer
        self.translate_to = translate_to
        self.reverb_prob = reverb_prob
        self.reverb_max_t60 = reverb_max_t60
        self._rirs: list[torch.Tensor] | None = None
        self.band_limit_prob = band_limit_prob
        self.band_limit_hz = tuple(band_limit_hz)
        self.speed_perturb = list(speed_perturb) if speed_perturb else None
        self.noise_snr_db = tuple(noise_snr_db) if noise_snr_db else None
        self.noise_prob = noise_prob
        self._rng: tuple[int, random.Random, torch.Generator] | None = None

    def __getitem__(self, cuts: CutSet) -> dict:
        rng, gen = self._generators()
        cuts = cuts.resample(self.sample_rate)
        if self.speed_perturb:
            cuts = perturb_speed(cuts, self.speed_perturb, rng)
        try:
            audio, audio_lens, kept = collate_audio(cuts, fault_tolerant=True, mono_downmix=True)  # (B, S), (B,)
        except ValueError as e:  # lhotse found no readable cut at all
            ids = ", ".join(list(cuts.ids)[:5])
            raise UserError(f"no audio of a batch could be read ({ids}, ...); run `asr validate-data` on the "
                            "training manifests") from e
        if len(kept) < len(cuts):
            lost = sorted(set(cuts.ids) - set(kept.ids))
            log.warning("dropped %d cut(s) whose audio could not be read: %s", len(lost), ", ".join(lost[:5]))
        if self.reverb_prob > 0:  # the room first, then the channel that recorded it, then noise
            audio = reverberate(audio, audio_lens, self._rir_bank(), self.reverb_prob, gen)
        if self.band_limit_prob > 0:  # before the noise: the channel limits the speech, noise is added after
            audio = band_limit(audio, audio_lens, self.sample_rate, self.band_limit_hz, self.band_limit_prob, gen)
        if self.noise_snr_db:
            audio = add_noise(audio, audio_lens, self.noise_snr_db, self.noise_prob, gen)
        text = [normalise_text(cut_text(c)) for c in kept]
        batch = {"audio": audio, "audio_lens": audio_lens.long(), "text": text, "ids": list(kept.ids)}
        if self.translate_to:
            batch["source_text"] = text
            batch["text"] = [normalise_text(cut_translation(c, self.translate_to)) for c in kept]
        if self.tokenizer is not None:
            targets, target_lens = pad_targets([self.tokenizer.encode(t) for t in batch["text"]])  # (B, U), (B,)
            batch.update(targets=targets, target_lens=target_lens)
            if self.translate_to:
                ctc_targets, ctc_lens = pad_targets([self.tokenizer.encode(t) for t in text])  # (B, U_src), (B,)
                batch.update(ctc_targets=ctc_targets, ctc_target_lens=ctc_lens)
        return batch

    def _rir_bank(self) -> list[torch.Tensor]:
        if self._rirs is None:  # made once, from the run's seed: ~30 ms an impulse response
            self._rirs = rir_bank(RIR_BANK, self.sample_rate, self.reverb_max_t60, int(torch.initial_seed()) % 2**31)
        return self._rirs

    def _generators(self) -> tuple[random.Random, torch.Generator]:
        """Per-process random sources, seeded from torch's seed, which the DataLoader sets per worker and epoch.

        Creating them lazily (not in __init__) keeps forked workers from sharing one random stream.
        """
        seed = int(torch.initial_seed()) % 2**63
        if self._rng is None or self._rng[0] != seed:
            self._rng = (seed, random.Random(seed), torch.Generator().manual_seed(seed))
        return self._rng[1], self._rng[2]
