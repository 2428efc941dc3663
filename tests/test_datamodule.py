"""Training batches: schema, bucketing, DDP splitting, augmentation, exact resume, and the CMVN/tokenizer helpers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import soundfile as sf
import torch

from asr.data.augment import add_noise
from asr.data.datamodule import ASRDataModule
from asr.data.manifests import load_cuts
from asr.data.stats import compute_cmvn, train_tokenizer_from_cuts
from asr.errors import UserError
from asr.features import FrontendConfig, LogMel

N_UTTS = 40


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny per-utterance ops (resampling) in the main process crawl when two threads fight over two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> list[str]:
    """Two NeMo manifests (one at 8 kHz, like FSDD) with durations of 0.5-4 s."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    paths = []
    for name, rate, n in (("a", 16000, N_UTTS // 2), ("b", 8000, N_UTTS // 2)):
        lines = []
        for i in range(n):
            seconds = float(rng.uniform(0.5, 4.0))
            x = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate) + 0.001
            sf.write(root / f"{name}{i:02d}.wav", x.astype(np.float32), rate)
            lines.append({"audio_filepath": f"{name}{i:02d}.wav", "text": f"Number {i}, Okay!", "duration": seconds})
        (root / f"{name}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        paths.append(str(root / f"{name}.jsonl"))
    return paths


def make_dm(manifests, **kw) -> ASRDataModule:
    args = dict(train_manifests=manifests, valid_manifests=manifests[0], max_duration=12.0, num_buckets=4,
                num_workers=0, seed=3)
    dm = ASRDataModule(**{**args, **kw})
    dm.setup("fit")
    return dm


def test_batch_schema_resampling_and_padding(manifests):
    dm = make_dm(manifests)
    cuts = dm.train_cuts()
    seen = []
    for batch in dm.train_dataloader():
        audio, lens = batch["audio"], batch["audio_lens"]
        B = len(batch["ids"])
        assert audio.dtype == torch.float32 and audio.shape == (B, int(lens.max())) and lens.dtype == torch.int64
        for row, n, cut_id in zip(audio, lens, batch["ids"]):
            assert n == round(cuts[cut_id].duration * 16000)  # 8 kHz files come out at 16 kHz
            assert torch.all(row[n:] == 0) and row[:n].abs().max() > 0.05
        assert all(t.startswith("number ") and t.endswith(" okay") for t in batch["text"])
        assert sum(cuts[i].duration for i in batch["ids"]) <= 12.0
        seen += batch["ids"]
    assert sorted(seen) == sorted(cuts.ids) and len(seen) == N_UTTS


class CountingTokenizer:
    """A tokenizer that counts the encode calls made in this process (a worker's calls stay in the worker)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.calls = tokenizer, 0

    def encode(self, text: str) -> list[int]:
        self.calls += 1
        return self.tokenizer.encode(text)


def test_batches_carry_their_texts_token_ids_made_in_the_loaders_workers(manifests):
    """With the run's tokenizer, training and validation batches carry targets (B, U) = tokenizer.encode(text) of
    each row, padded with -1, and target_lens (B,), next to the text (validation scores text); the loader's worker
    makes them, not the training process. Without a tokenizer there are no targets."""
    tok = train_tokenizer_from_cuts(make_dm(manifests).train_cuts(), "bpe", 30)
    dm = make_dm(manifests, num_workers=1)
    dm.tokenizer = counting = CountingTokenizer(tok)
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        for batch in loader:
            targets, lens = batch["targets"], batch["target_lens"]
            B = len(batch["text"])
            assert targets.dtype == lens.dtype == torch.int64 and targets.shape == (B, int(lens.max()))
            for row, n, text in zip(targets, lens, batch["text"]):
                assert row[:n].tolist() == tok.encode(text) and bool((row[n:] == -1).all())
    assert counting.calls == 0
    assert "targets" not in next(iter(make_dm(manifests).train_dataloader()))


def test_duration_filter_and_valid_loader(manifests):
    dm = make_dm(manifests, max_utt_duration=2.0)
    assert all(c.duration <= 2.0 for c in dm.train_cuts()) and 0 < len(dm.train_cuts()) < N_UTTS
    valid_ids = [i for b in dm.val_dataloader() for i in b["ids"]]
    assert sorted(valid_ids) == sorted(load_cuts(manifests[0]).ids)


def test_train_repeats_weight_a_manifest_up_within_each_epoch(manifests):
    dm = make_dm(manifests, train_repeats=[1, 3])
    seen = [i for b in dm.train_dataloader() for i in b["ids"]]
    b_ids = set(load_cuts(manifests[1]).ids)
    assert len(seen) == len(set(seen)) == N_UTTS // 2 * 4  # every copy once, each under its own id
    origin = [next((b for b in b_ids if i.startswith(b)), None) for i in seen]
    assert sorted(o for o in origin if o) == sorted(list(b_ids) * 3)
    with pytest.raises(UserError, match="train_repeats"):
        make_dm(manifests, train_repeats=[1])


def test_ddp_ranks_get_disjoint_batches_covering_the_data(manifests):
    per_rank = []
    for rank in (0, 1):
        dm = make_dm(manifests)
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank, training=True, current_epoch=0)
        per_rank.append([b["ids"] for b in dm.train_dataloader()])
    assert len(per_rank[0]) == len(per_rank[1])  # equal step counts: no rank waits for another
    ids0 = {i for b in per_rank[0] for i in b}
    ids1 = {i for b in per_rank[1] for i in b}
    assert ids0.isdisjoint(ids1) or len(ids0 & ids1) <= 1  # at most a duplicated straggler at the very end
    assert ids0 | ids1 == set(make_dm(manifests).train_cuts().ids)


def epoch_ids(loader, dm=None, limit=None) -> list[tuple[str, ...]]:
    out = []
    for batch in loader:
        if dm is not None:
            dm.on_before_batch_transfer(batch, 0)  # what Lightning calls for each batch it trains on
        out.append(tuple(batch["ids"]))
        if limit is not None and len(out) == limit:
            break
    return out


@pytest.mark.parametrize("num_workers", [0, 2])
def test_sampler_state_resumes_exactly_despite_prefetching(manifests, num_workers):
    full = make_dm(manifests, num_workers=num_workers)
    loader = full.train_dataloader()
    uninterrupted = epoch_ids(loader)
    loader.sampler.set_epoch(1)
    uninterrupted_next_epoch = epoch_ids(loader)

    dm = make_dm(manifests, num_workers=num_workers)
    k = 3
    head = epoch_ids(dm.train_dataloader(), dm, limit=k)  # workers have prefetched beyond k by now
    state = dm.state_dict()
    assert head == uninterrupted[:k]

    resumed = make_dm(manifests, num_workers=num_workers)
    resumed.load_state_dict(state)
    loader = resumed.train_dataloader()
    assert head + epoch_ids(loader, resumed) == uninterrupted
    loader.sampler.set_epoch(1)
    assert epoch_ids(loader, resumed) == uninterrupted_next_epoch


class RecordIds(L.LightningModule):
    """The smallest trainable module; remembers which cuts each training step saw."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[str, ...]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(tuple(batch["ids"]))
        return (self.w * batch["audio"].mean()).sum() + self.w**2

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(manifests, tmp_path, max_steps, ckpt_path=None, every=None) -> list[tuple[str, ...]]:
    dm = ASRDataModule(train_manifests=manifests, max_duration=12.0, num_buckets=4, num_workers=2, seed=3)
    model = RecordIds()
    callbacks = [L.pytorch.callbacks.ModelCheckpoint(tmp_path, every_n_train_steps=every, save_top_k=-1)
                 ] if every else []
    trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False, callbacks=callbacks,
                        enable_checkpointing=bool(every), limit_val_batches=0)
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return model.seen


def test_lightning_resume_mid_epoch_sees_the_same_batches(manifests, tmp_path):
    steps_per_epoch = len(epoch_ids(make_dm(manifests).train_dataloader()))
    total = steps_per_epoch + 4  # into the second epoch
    uninterrupted = fit(manifests, tmp_path / "a", total)
    k = 3
    head = fit(manifests, tmp_path / "b", k, every=k)
    (ckpt,) = list((tmp_path / "b").glob("*.ckpt"))
    tail = fit(manifests, tmp_path / "c", total, ckpt_path=str(ckpt))
    assert head == uninterrupted[:k]
    assert head + tail == uninterrupted


def test_speed_perturbation_and_noise(manifests):
    dm = make_dm(manifests, speed_perturb=[0.9, 1.1], noise_snr_db=(20.0, 20.0), noise_prob=1.0)
    cuts = dm.train_cuts()
    factors = set()
    for batch in dm.train_dataloader():
        ratios = [float(n) / (cuts[i].duration * 16000) for n, i in zip(batch["audio_lens"], batch["ids"])]
        assert max(ratios) - min(ratios) < 0.01  # one speed per batch keeps the bucketed lengths aligned
        factors.add(min((1 / 0.9, 1 / 1.1), key=lambda f: abs(f - ratios[0])))
        assert ratios[0] == pytest.approx(1 / 0.9, rel=0.01) or ratios[0] == pytest.approx(1 / 1.1, rel=0.01)
    assert len(factors) == 2


def test_noise_has_the_requested_snr_and_keeps_padding_zero():
    torch.manual_seed(0)
    lens = torch.tensor([16000, 8000])
    audio = torch.randn(2, 16000) * 0.1 * (torch.arange(16000)[None, :] < lens[:, None])
    noisy = add_noise(audio, lens, snr_db=(10.0, 10.0), prob=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.all(noisy[1, 8000:] == 0)
    for b, n in enumerate(lens):
        noise = noisy[b, :n] - audio[b, :n]
        snr = 10 * torch.log10(audio[b, :n].pow(2).mean() / noise.pow(2).mean())
        assert float(snr) == pytest.approx(10.0, abs=0.01)
    untouched = add_noise(audio, lens, snr_db=(10.0, 10.0), prob=0.0)
    assert torch.equal(untouched, audio)


def test_band_limiting_leaves_nothing_above_the_cutoff_and_keeps_padding_zero():
    from asr.data.augment import band_limit

    torch.manual_seed(0)
    lens = torch.tensor([16000, 9000])
    audio = torch.randn(2, 16000) * 0.1 * (torch.arange(16000)[None, :] < lens[:, None])
    low = band_limit(audio, lens, 16000, (3500.0, 3500.0), prob=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.all(low[1, 9000:] == 0)
    for b, n in enumerate(lens.tolist()):
        spec = torch.fft.rfft(low[b, :n]).abs()
        freqs = torch.fft.rfftfreq(n, 1 / 16000)
        assert float(spec[freqs > 3500].max()) < 1e-3 * float(spec[freqs < 3000].mean())  # gone above...
        below = freqs < 3400
        orig = torch.fft.rfft(audio[b, :n])[below]
        assert torch.allclose(torch.fft.rfft(low[b, :n])[below], orig, atol=1e-3)  # ...untouched below
    assert torch.equal(band_limit(audio, lens, 16000, (3500.0, 3500.0), prob=0.0), audio)


def test_reverberation_is_the_rooms_convolution_aligned_at_the_direct_path():
    from asr.data.augment import reverberate, rir_bank

    torch.manual_seed(0)
    lens = torch.tensor([16000, 9000])
    audio = torch.randn(2, 16000) * 0.1 * (torch.arange(16000)[None, :] < lens[:, None])
    # An impulse response of a pure delay and one echo: the output is the input plus the echo, unshifted.
    h = torch.zeros(400)
    h[100], h[300] = 1.0, 0.5
    wet = reverberate(audio, lens, [h], prob=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.all(wet[1, 9000:] == 0)
    for b, n in enumerate(lens.tolist()):
        x = audio[b, :n]
        expected = x.clone()
        expected[200:] += 0.5 * x[:-200]
        expected *= (x.pow(2).sum() / expected.pow(2).sum()).sqrt()  # the input's power is kept
        assert torch.allclose(wet[b, :n], expected, atol=1e-5)
    assert torch.equal(reverberate(audio, lens, [h], prob=0.0), audio)
    rooms = rir_bank(3, 16000, max_t60=0.5, seed=0)
    assert len(rooms) == 3 and all(r.ndim == 1 and r.numel() > 100 for r in rooms)
    assert all(torch.equal(a, b) for a, b in zip(rooms, rir_bank(3, 16000, max_t60=0.5, seed=0)))  # the seed's


def test_training_batches_are_reverberated_when_asked(manifests, monkeypatch):
    import asr.data.dataset as dataset

    monkeypatch.setattr(dataset, "RIR_BANK", 4)
    dry = next(iter(make_dm(manifests).train_dataloader()))
    wet = next(iter(make_dm(manifests, reverb_prob=1.0, reverb_max_t60=0.6).train_dataloader()))
    assert dry["ids"] == wet["ids"] and torch.equal(dry["audio_lens"], wet["audio_lens"])
    for b, n in enumerate(dry["audio_lens"].tolist()):
        x, y = dry["audio"][b, :n], wet["audio"][b, :n]
        assert not torch.allclose(x, y, atol=1e-3)
        assert float(y.pow(2).sum()) == pytest.approx(float(x.pow(2).sum()), rel=1e-3)
        assert torch.all(wet["audio"][b, n:] == 0)


def test_cmvn_matches_features_of_all_utterances_and_tokenizer_sees_normalised_text(manifests):
    cuts = make_dm(manifests).train_cuts()
    # The model's own frontend, not a default one: a telephone-band filterbank in a longer FFT.
    cfg = FrontendConfig(n_mels=40, f_max=4000, n_fft=512)
    mean, std = compute_cmvn(cuts, cfg)
    frontend = LogMel(cfg)
    frames = []
    for cut in cuts:
        wave = torch.from_numpy(cut.resample(16000).load_audio()).float()  # (1, S)
        feats, lens = frontend(wave, torch.tensor([wave.shape[1]]))
        frames.append(feats[0, : lens[0]])
    allf = torch.cat(frames).double()
    assert torch.allclose(mean.double(), allf.mean(0), atol=1e-3)
    assert torch.allclose(std.double(), allf.std(0, unbiased=False), atol=1e-3)
    full_band, _ = compute_cmvn(cuts, FrontendConfig(n_mels=40))
    assert not torch.allclose(full_band, mean, atol=1e-2)  # another filterbank, other statistics
    sub_mean, _ = compute_cmvn(cuts, cfg, max_cuts=5)
    assert not torch.allclose(sub_mean, mean)  # a different (random) subset
    tok = train_tokenizer_from_cuts(cuts, "char")
    assert tok.decode(tok.encode("Number 7, okay!")) == "number 7 okay"


def test_an_unreadable_file_is_dropped_from_its_batch_not_fatal(manifests, tmp_path):
    from lhotse import CutSet, Recording

    from asr.data.dataset import ASRDataset

    good = list(load_cuts(manifests[1]))[:2]
    lost = tmp_path / "lost.wav"
    sf.write(lost, np.full(8000, 0.1, dtype=np.float32), 8000)
    bad = Recording.from_file(lost).to_cut()
    lost.unlink()
    batch = ASRDataset()[CutSet.from_cuts([good[0], bad, good[1]])]
    assert batch["ids"] == [good[0].id, good[1].id] and batch["audio"].shape[0] == 2
