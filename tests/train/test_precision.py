"""Precision choice: `auto` takes bf16 on a CPU with bf16 matrix units when a training step of the run's own model runs
faster in bf16 (each precision's fastest timed step compared), fp32 elsewhere without timing; `fastest` times on any
CPU; the measurement leaves the run untouched."""

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.settings import Settings
from cnnlab.train import precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("units", [True, False])
def test_fastest_times_on_any_cpu(monkeypatch, units):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: units)
    assert precision.pick_dtype("fastest", CPU, lambda: 1.4) == torch.bfloat16
    assert precision.pick_dtype("fastest", CPU, lambda: 0.7) == torch.float32


@pytest.mark.parametrize("units, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_measures_only_where_the_cpu_has_bf16_units(monkeypatch, units, expected):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: units)
    asked = []
    assert precision.pick_dtype("auto", CPU, lambda: asked.append(1) or 2.0) == expected
    assert asked == ([1] if units else [])


def test_auto_on_bf16_units_keeps_fp32_where_bf16_is_slower(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: True)
    assert precision.pick_dtype("auto", CPU, lambda: 0.75) == torch.float32


@pytest.mark.parametrize("fp32, bf16, expected", [
    ([0.010, 0.030, 0.011], [0.005, 0.006, 0.020], 2.0),   # bursts in both columns: the fastest of each decides
    ([0.010, 0.010, 0.010], [0.013, 0.004, 0.030], 2.5),   # one undisturbed bf16 step shows what bf16 can do
    ([0.008, 0.009], [0.010, 0.011], 0.8)])
def test_the_speedup_compares_each_precisions_fastest_step(fp32, bf16, expected):
    times = precision.StepTimes(fp32, bf16)
    assert times.speedup == pytest.approx(expected)
    assert times.rounds() == pytest.approx([f / b for f, b in zip(fp32, bf16)])


def test_explicit_choices_are_kept_without_measuring():
    never = lambda: pytest.fail("measured")  # noqa: E731
    assert precision.pick_dtype("bf16", CPU, never) == torch.bfloat16
    assert precision.pick_dtype("fp32", CPU, never) == torch.float32
    with pytest.raises(CnnlabError, match="fastest"):
        Settings.of(precision="fp8")


def test_the_probe_times_a_copy_of_the_model_and_leaves_weights_and_random_state_alone():
    model = create_model("simplecnn", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.get_rng_state()
    times = precision.step_times(model, (8, 3, 32, 32), 3, CPU, rounds=3)
    assert len(times.fp32) == len(times.bf16) == 3 and min(times.fp32 + times.bf16) > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(state, torch.get_rng_state()) and all(p.grad is None for p in model.parameters())
