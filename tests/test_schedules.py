import math

import pytest

from asr.schedules import OptimConfig, lr_factor


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
