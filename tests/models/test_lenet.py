"""LeNet-5: the paper's layout and parameter count, and its ReLU variant."""

import torch
from torch import nn

from cnnlab.models import create_model
from cnnlab.models.layers import SqueezeExcite


def count(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def convs(model: nn.Module) -> list[nn.Conv2d]:
    """The network's own convolutions (not the 1x1 convs inside SE blocks)."""
    se_convs = {id(m) for se in model.modules() if isinstance(se, SqueezeExcite) for m in se.modules()}
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in se_convs]


def test_lenet5_layout():
    model = create_model("lenet5").eval()
    assert count(model) == 61_706
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs(model)] == [(1, 6, (5, 5)), (6, 16, (5, 5))]
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 4
    with torch.no_grad():
        assert model.forward_features(torch.randn(2, 1, 32, 32)).shape == (2, 16, 5, 5)


def test_lenet5_relu_variant():
    model = create_model("lenet5:act=relu")
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 4
    assert not any(isinstance(m, nn.Tanh) for m in model.modules())
    assert count(model) == 61_706
