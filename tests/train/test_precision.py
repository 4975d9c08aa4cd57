"""Precision choice: `auto` takes bf16 on a CPU with bf16 matrix units unless every timed round of a training step of
the run's own model finds bf16 slower, fp32 elsewhere; `fastest` takes what the median round finds faster; the
measurement leaves the run untouched."""

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.settings import Settings
from cnnlab.train import precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("rounds, expected", [([3.3, 3.1, 2.9], torch.bfloat16), ([1.1, 0.8, 1.2], torch.bfloat16),
                                              ([0.95, 1.2, 0.9], torch.float32)])
def test_fastest_follows_the_median_round(rounds, expected):
    assert precision.pick_dtype("fastest", CPU, lambda: rounds) == expected


@pytest.mark.parametrize("units, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_measures_only_where_the_cpu_has_bf16_units(monkeypatch, units, expected):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: units)
    asked = []
    assert precision.pick_dtype("auto", CPU, lambda: asked.append(1) or [2.0]) == expected
    assert asked == ([1] if units else [])


@pytest.mark.parametrize("rounds, expected", [([0.3, 0.87, 1.4], torch.bfloat16), ([0.5, 0.9, 0.7], torch.float32)])
def test_auto_leaves_bf16_units_only_when_every_round_finds_bf16_slower(monkeypatch, rounds, expected):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: True)
    assert precision.pick_dtype("auto", CPU, lambda: rounds) == expected


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
    ratios = precision.step_speedups(model, (8, 3, 32, 32), 3, CPU, rounds=3)
    assert len(ratios) == 3 and all(r > 0 for r in ratios)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(state, torch.get_rng_state()) and all(p.grad is None for p in model.parameters())
