"""The private parts of Lightning and lhotse that exact resume relies on, checked on real objects of the versions
installed.

pyproject.toml holds lightning and lhotse below their next minor versions because of these hooks. When a bound is
raised, a test here that fails names the attribute that moved and the file of ours that reads or writes it, where
otherwise a resumed run would quietly train on other batches than an uninterrupted one (the behaviour itself is
tested end to end in tests/test_datamodule.py and tests/test_kill_resume.py).
"""

from __future__ import annotations

import warnings

import lhotse
import lightning as L
import pytest
import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler
from lhotse.testing.dummies import dummy_cut
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from asr.training.resume import checkpoint_folders, finish_epoch_end

VERSIONS = f"lightning {L.__version__}, lhotse {lhotse.__version__}"


def relied_on(owner: object, name: str, by: str) -> object:
    """`owner.name`, or a failure naming it (on the library's class) and what of ours relies on it."""
    if not hasattr(owner, name):
        cls = next(c for c in type(owner).__mro__ if c.__module__.split(".")[0] in ("lightning", "lhotse"))
        pytest.fail(f"{cls.__module__}.{cls.__qualname__}.{name} is gone ({VERSIONS}); {by} relies on it",
                    pytrace=False)
    return getattr(owner, name)


def key(state: dict, *path: str | int, by: str) -> object:
    """`state[a][b]...`, or a failure naming the missing key and what relies on it."""
    for part in path:
        if not isinstance(state, dict) or part not in state:
            pytest.fail(f"no {'/'.join(map(str, path))} in the state ({VERSIONS}; stopped at {part!r}); {by} relies "
                        "on it", pytrace=False)
        state = state[part]
    return state


# ---- Lightning ----------------------------------------------------------------------------------------------------

class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.w(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(6, 2)), batch_size=2)  # 3 batches an epoch


def trainer(root, **kw) -> L.Trainer:
    return L.Trainer(default_root_dir=root, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, **kw)


class LastBatchFlags(L.Callback):
    def __init__(self) -> None:
        self.flags: list[object] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loop = relied_on(trainer.fit_loop, "epoch_loop", "asr/training/resume.py (ClockCheckpoint)")
        progress = relied_on(loop, "batch_progress", "asr/training/resume.py (ClockCheckpoint)")
        self.flags.append(relied_on(progress, "is_last_batch", "asr/training/resume.py (ClockCheckpoint) and "
                                                                "asr/data/datamodule.py (_epoch_taken)"))


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """(the is_last_batch flag at each training batch's end, the checkpoint ModelCheckpoint saves at the epoch's
    end) of one epoch of 3 batches."""
    root = tmp_path_factory.mktemp("one_epoch")
    flags = LastBatchFlags()
    at_epoch_end = ModelCheckpoint(dirpath=root / "checkpoints", filename="epoch-end", save_top_k=-1,
                                   save_on_train_epoch_end=True)
    trainer(root, max_epochs=1, callbacks=[flags, at_epoch_end]).fit(Tiny())
    return flags.flags, root / "checkpoints" / "epoch-end.ckpt"


def test_is_last_batch_marks_an_epochs_last_batch(one_epoch):
    flags, _ = one_epoch
    assert flags == [False, False, True], (
        f"trainer.fit_loop.epoch_loop.batch_progress.is_last_batch at the 3 batches' ends: {flags} ({VERSIONS}); "
        "asr/training/resume.py (ClockCheckpoint) and asr/data/datamodule.py (_epoch_taken) read it as 'this was "
        "the epoch's last batch'")


def test_an_epoch_end_checkpoint_holds_the_loop_state_finish_epoch_end_rewrites(one_epoch):
    _, path = one_epoch
    by = "asr/training/resume.py (finish_epoch_end)"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    fit = key(checkpoint, "loops", "fit_loop", by=by)
    for tracker in ("current", "total"):
        counts = key(fit, "epoch_progress", tracker, by=by)
        assert set(counts) >= {"ready", "started", "processed", "completed"}, f"epoch_progress/{tracker}: {counts}"
    assert key(fit, "epoch_loop.batch_progress", "is_last_batch", by=by) is True
    assert isinstance(key(fit, "epoch_loop.batch_progress", "current", by=by), dict)
    assert isinstance(key(fit, "epoch_loop.val_loop.batch_progress", "total", by=by), dict)
    current = dict(fit["epoch_progress"]["current"])
    finish_epoch_end(checkpoint)
    assert fit["epoch_progress"]["current"]["completed"] == current["processed"], (
        f"Lightning ({VERSIONS}) saves an epoch-end checkpoint with epoch_progress.current = {current}, not the "
        "'processed but not completed' counts that asr/training/resume.py (finish_epoch_end) recognises and marks "
        "completed; check whether resuming from such a checkpoint with max_steps still repeats the epoch's end")
    assert fit["epoch_loop.batch_progress"]["is_last_batch"] is False


class MarksTheLoopState(Tiny):
    """Changes the loop state in the checkpoint from `on_load_checkpoint`, as asr/training/task.py does."""

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.restored_before = self.trainer.fit_loop.epoch_progress.total.processed
        checkpoint["loops"]["fit_loop"]["epoch_progress"]["total"]["ready"] += 100


class ReadyAtStart(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        self.ready = trainer.fit_loop.epoch_progress.total.ready


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")  # no ModelCheckpoint here
def test_on_load_checkpoint_runs_before_the_loops_are_restored_from_it(one_epoch, tmp_path):
    _, path = one_epoch
    model, seen = MarksTheLoopState(), ReadyAtStart()
    trainer(tmp_path, max_epochs=2, callbacks=[seen], enable_checkpointing=False).fit(model, ckpt_path=path)
    by = ("asr/training/task.py (on_load_checkpoint calls asr/training/resume.py finish_epoch_end to rewrite the "
          "loop state before Lightning restores the loops from it)")
    assert model.restored_before == 0, f"the loops were restored before on_load_checkpoint ({VERSIONS}); {by}"
    assert seen.ready >= 100, f"the loops were not restored from the dict on_load_checkpoint got ({VERSIONS}); {by}"


def test_model_checkpoint_resolves_its_folder_before_fit(tmp_path):
    cb = ModelCheckpoint()
    t = trainer(tmp_path, callbacks=[cb])
    resolve = relied_on(cb, "_ModelCheckpoint__resolve_ckpt_dir",
                        "asr/training/resume.py (checkpoint_folders: where `--ckpt_path last` looks before fit)")
    assert cb.dirpath is None
    assert str(resolve(t)) == str(tmp_path / "checkpoints")
    assert checkpoint_folders(t) == [tmp_path / "checkpoints"]


def test_a_lightning_module_outside_a_trainer_has_none_as_its_private_trainer(tmp_path):
    by = "asr/training/task.py (on_save_checkpoint: `self._trainer is not None`, as `self.trainer` raises there)"
    module = Tiny()
    assert relied_on(module, "_trainer", by) is None, f"LightningModule._trainer outside a trainer ({VERSIONS}); {by}"
    t = trainer(tmp_path)
    module.trainer = t
    assert module._trainer is t, f"LightningModule._trainer once attached ({VERSIONS}); {by}"


# ---- lhotse -------------------------------------------------------------------------------------------------------

def sampler() -> DynamicBucketingSampler:
    """Built as asr/data/datamodule.py (make_sampler) builds one, over 24 dummy cuts of 1 to 2.2 s."""
    cuts = CutSet.from_cuts(dummy_cut(i, duration=1.0 + 0.05 * i, recording_duration=3.0) for i in range(24))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
        return DynamicBucketingSampler(cuts, max_duration=4.0, num_buckets=2, buffer_size=100, shuffle=True,
                                       drop_last=False, seed=0, world_size=1, rank=0)


def batch_ids(batches) -> list[tuple[str, ...]]:
    return [tuple(c.id for c in batch) for batch in batches]


def test_the_sampler_state_has_the_fields_the_datamodule_reads_and_rewrites():
    by = "asr/data/datamodule.py (state_dict, load_state_dict, _same_batches)"
    s = sampler()
    for name, kind in (("epoch", int), ("world_size", int), ("max_duration", float)):
        assert isinstance(relied_on(s, name, by), kind), f"DynamicBucketingSampler.{name}: {getattr(s, name)!r}"
    relied_on(s, "set_epoch", by)
    it = iter(s)
    next(it), next(it)
    state = s.state_dict()
    assert key(state, "epoch", by=by) == 0 and key(state, "world_size", by=by) == 1
    assert key(state, "max_duration", by=by) == 4.0
    epoch = key(state, "diagnostics", "stats_per_epoch", 0, by=by)
    assert isinstance(key(epoch, "kept_batches", by=by), int)
    assert isinstance(key(epoch, "discarded_batches", by=by), int)
    assert epoch["kept_batches"] + epoch["discarded_batches"] == 2, f"2 batches taken, the diagnostics say {epoch}"


def test_a_restored_sampler_skips_the_batches_its_diagnostics_count():
    full = batch_ids(sampler())
    assert len(full) >= 4
    taken = sampler()
    it = iter(taken)
    for _ in range(3):  # the DataLoader's workers prefetched 3 batches; the training loop consumed 1
        next(it)
    state = taken.state_dict()
    stats = state["diagnostics"]["stats_per_epoch"][0]
    stats["kept_batches"], stats["discarded_batches"] = 1, 0  # what asr/data/datamodule.py (state_dict) writes
    restored = sampler()
    restored.load_state_dict(state)
    assert batch_ids(restored) == full[1:], (
        f"a DynamicBucketingSampler restored with diagnostics of 1 kept batch did not go on from batch 1 "
        f"({VERSIONS}); asr/data/datamodule.py (state_dict) rewrites kept_batches/discarded_batches to the batches "
        "the training loop consumed, relying on lhotse's load_state_dict fast-forwarding by their sum")
