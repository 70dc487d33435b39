"""Per-step schedules: warm-up, cosine endpoints and monotonicity, the teacher temperature warm-up."""

from __future__ import annotations

import numpy as np
import pytest

from training.model.config import LossConfig
from training.schedules import cosine_schedule, linear_warmup_then_constant, teacher_temp_schedule


def test_cosine_lr_warms_up_linearly_then_decays_monotonically_to_the_final_value() -> None:
    lr = cosine_schedule(base=1e-3, final=1e-6, total_steps=100, warmup_steps=10, start_warmup=0.0)
    assert lr.shape == (100,)
    np.testing.assert_allclose(lr[:10], np.arange(10) * 1e-4, rtol=1e-12, atol=1e-18)  # 0, 1e-4, ..., 9e-4
    assert lr[10] == pytest.approx(1e-3)
    assert lr[-1] == pytest.approx(1e-6, rel=1e-12)
    assert np.all(np.diff(lr[10:]) < 0)
    # half-way through the cosine part the value is the mean of base and final
    assert cosine_schedule(1.0, 0.0, 101)[50] == pytest.approx(0.5)


def test_increasing_schedules_for_weight_decay_and_teacher_momentum() -> None:
    weight_decay = cosine_schedule(0.04, 0.4, total_steps=50)
    momentum = cosine_schedule(0.996, 1.0, total_steps=50)
    assert (weight_decay[0], weight_decay[-1]) == (pytest.approx(0.04), pytest.approx(0.4))
    assert (momentum[0], momentum[-1]) == (pytest.approx(0.996), 1.0)
    assert np.all(np.diff(weight_decay) > 0) and np.all(np.diff(momentum) > 0)


def test_schedule_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="warmup_steps"):
        cosine_schedule(1.0, 0.0, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        cosine_schedule(1.0, 0.0, total_steps=0)
    assert cosine_schedule(1.0, 0.0, total_steps=1).tolist() == [1.0]


def test_teacher_temperature_warms_up_over_the_configured_fraction_then_stays() -> None:
    temps = teacher_temp_schedule(LossConfig(warmup_teacher_temp=0.04, teacher_temp=0.07), total_steps=100)
    assert temps[0] == pytest.approx(0.04)
    assert temps[15] == pytest.approx(0.055)  # half of the 30-step warm-up
    np.testing.assert_allclose(temps[30:], 0.07)
    np.testing.assert_allclose(np.diff(temps[:31]), 0.001)  # linear
    no_warmup = teacher_temp_schedule(LossConfig(teacher_temp_warmup_fraction=0.0), total_steps=5)
    np.testing.assert_allclose(no_warmup, 0.07)
    assert linear_warmup_then_constant(1.0, 2.0, total_steps=3, warmup_steps=4).tolist() == [1.0, 1.25, 1.5]
