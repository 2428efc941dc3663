import math

import pytest

from asr.training.schedules import OptimConfig, lr_factor


def test_noam_warms_up_then_decays_as_inverse_sqrt():
    cfg = OptimConfig(schedule="noam", warmup_steps=100)
    assert lr_factor(0, cfg) == pytest.approx(0.01)
    assert lr_factor(99, cfg) == pytest.approx(1.0)
    assert lr_factor(399, cfg) == pytest.approx(math.sqrt(100 / 400))


def test_cosine_reaches_floor_at_total():
    cfg = OptimConfig(schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(9, cfg, 110) == pytest.approx(1.0)
    assert lr_factor(59, cfg, 110) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(109, cfg, 110) == pytest.approx(0.1)
    assert lr_factor(500, cfg, 110) == pytest.approx(0.1)


def test_unknown_schedule():
    with pytest.raises(ValueError):
        lr_factor(50, OptimConfig(schedule="linear", warmup_steps=1))


def test_cosine_over_a_time_budget_follows_elapsed_time_not_steps():
    cfg = OptimConfig(schedule="cosine", warmup_steps=10, min_lr_ratio=0.0)
    assert lr_factor(4, cfg, time_progress=0.0) == pytest.approx(0.5)  # warmup still counts steps
    assert lr_factor(1000, cfg, time_progress=0.5) == pytest.approx(0.5)
    assert lr_factor(10, cfg, time_progress=0.5) == pytest.approx(0.5)  # same time, same rate, whatever the step
    assert lr_factor(1000, cfg, time_progress=1.0) == pytest.approx(0.0)
    assert lr_factor(1000, cfg, time_progress=1.7) == pytest.approx(0.0)


def test_a_run_bounded_by_max_time_decays_over_the_time_budget():
    """ASRTask wires Lightning's Timer (what `trainer.max_time` installs) into the cosine when no step count is set."""
    from datetime import timedelta
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import Timer

    from asr.training.task import ASRTask
    from asr.model import ModelConfig
    from asr.tokenizer import train_tokenizer

    timer = Timer(duration=timedelta(seconds=100))
    timer.load_state_dict({"time_elapsed": {"train": 50.0}})  # half the budget already spent (a resumed run)
    task = ASRTask(ModelConfig(d_model=16, heads=2, enc_layers=1, dec_layers=1, ffn=32, subsampling_channels=4),
                   OptimConfig(lr=1.0, schedule="cosine", warmup_steps=1, min_lr_ratio=0.0))
    task.build(train_tokenizer(["one two"], "char"))
    task.trainer = SimpleNamespace(callbacks=[timer], max_steps=-1, precision="32-true", gradient_clip_val=5.0)
    sched = task.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert sched.get_last_lr()[0] == pytest.approx(0.5, abs=1e-3)
    timer.load_state_dict({"time_elapsed": {"train": 100.0}})
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.0, abs=1e-6)
