"""Learning-rate schedules stepped per batch, and the optimizer's parameter groups."""

import math

import pytest
import torch
from torch import nn

from cnnlab.settings import OptimSettings
from cnnlab.train.optim import build_optimizer
from cnnlab.train.schedule import build_scheduler


def lrs(optim: OptimSettings, steps_per_epoch: int = 10) -> list[float]:
    """The learning rate of the first group at every step of the run."""
    model = nn.Linear(3, 2)
    optimizer = build_optimizer(model, optim)
    scheduler = build_scheduler(optimizer, optim, steps_per_epoch, optim.epochs * steps_per_epoch)
    seen = []
    for _ in range(optim.epochs * steps_per_epoch):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_cosine_starts_at_the_peak_and_falls_to_zero_half_way_at_half():
    seen = lrs(OptimSettings(optimizer="sgd", lr=0.4, schedule="cosine", epochs=2))
    assert seen[0] == pytest.approx(0.4)
    assert seen[10] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(seen, seen[1:])) and seen[-1] < 0.01


def test_warmup_rises_linearly_to_the_peak():
    seen = lrs(OptimSettings(optimizer="sgd", lr=1.0, schedule="cosine", warmup_epochs=0.5, epochs=2))
    assert seen[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_onecycle_with_warmup_is_a_triangle():
    seen = lrs(OptimSettings(optimizer="sgd", lr=1.0, schedule="onecycle", warmup_epochs=1, epochs=3))
    peak = seen.index(max(seen))
    assert peak == 9 and seen[peak] == pytest.approx(1.0)
    falls = [a - b for a, b in zip(seen[peak + 1:], seen[peak + 2:])]  # warmup's last step and decay's first: 1.0
    assert falls == pytest.approx([0.05] * len(falls))  # then a straight line down over the 20 decay steps
    assert seen[-1] == pytest.approx(1 / 20)  # one step short of zero


def test_onecycle_without_warmup_starts_at_a_25th_and_peaks_at_a_quarter():
    seen = lrs(OptimSettings(optimizer="sgd", lr=1.0, schedule="onecycle", epochs=4))
    assert seen[0] == pytest.approx(0.04)
    assert seen[10] == pytest.approx(1.0)


def test_step_schedule_multiplies_by_gamma_every_step_size_epochs():
    seen = lrs(OptimSettings(optimizer="sgd", lr=1.0, schedule="step", step_size=1, gamma=0.5, epochs=3))
    assert (seen[0], seen[10], seen[29]) == pytest.approx((1.0, 0.5, 0.25))


def test_bias_lr_mult_scales_biases_and_norms_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    config = OptimSettings(optimizer="sgd", lr=0.1, weight_decay=5e-4, bias_lr_mult=64.0)
    groups = build_optimizer(model, config).param_groups
    by_size = {sum(p.numel() for p in g["params"]): g for g in groups}
    weights = 4 * 3 * 9 + 4 * 2
    shifts = 4 + 4 + 4 + 2  # conv bias, BN weight and bias, linear bias
    assert by_size[weights]["lr"] == pytest.approx(0.1) and by_size[weights]["weight_decay"] == 5e-4
    assert by_size[shifts]["lr"] == pytest.approx(6.4) and by_size[shifts]["weight_decay"] == 0.0


def test_frozen_parameters_are_left_out_of_the_optimizer():
    model = nn.Linear(3, 2)
    model.bias.requires_grad_(False)
    groups = build_optimizer(model, OptimSettings(optimizer="sgd")).param_groups
    assert [p for g in groups for p in g["params"]] == [model.weight]
    assert math.isclose(groups[0]["lr"], OptimSettings().lr)
    assert isinstance(build_optimizer(model, OptimSettings(optimizer="sgd")), torch.optim.SGD)
