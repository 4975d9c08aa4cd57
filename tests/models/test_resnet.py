"""ResNet variants: the CIFAR stem, squeeze-and-excitation blocks, zero-initialised residuals, other channels."""

import pytest
import torch
from torch import nn

from cnnlab.models import create_model, model_info
from cnnlab.models.layers import SqueezeExcite
from cnnlab.models.resnet import BasicBlock, Bottleneck


def count(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def test_cifar_stem_keeps_resolution():
    model = create_model("resnet18:stem=cifar", num_classes=10).eval()
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert count(model) == model_info("resnet18").params - 64 * 3 * (49 - 9) - 990 * 513
    assert model.default_cfg["input_size"] == (3, 32, 32)
    with torch.no_grad():
        assert model.forward_features(torch.randn(2, 3, 32, 32)).shape == (2, 512, 4, 4)


def test_imagenet_stem_downsamples_by_32():
    model = create_model("resnet18").eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)


@pytest.mark.parametrize("name, block, width", [("resnet18", BasicBlock, 512), ("resnet50", Bottleneck, 2048)])
def test_se_goes_into_every_block(name, block, width):
    with torch.device("meta"):
        plain, se = create_model(name), create_model(name, se=True)
    blocks = [m for m in se.modules() if isinstance(m, block)]
    assert all(isinstance(b.se, SqueezeExcite) for b in blocks)
    expected = sum(count(b.se) for b in blocks)
    assert expected > 0 and count(se) == count(plain) + expected
    assert se.fc.in_features == width


def test_se_resnet_runs():
    model = create_model("resnet18:stem=cifar,se=true", num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_zero_init_residual_zeroes_the_last_bn_of_each_block(name):
    zeroed = create_model(name, zero_init_residual=True)
    plain = create_model(name)
    for model, value in ((zeroed, 0.0), (plain, 1.0)):
        blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
        assert blocks and all(torch.all(b.last_bn.weight == value) for b in blocks)


def test_in_chans_changes_the_first_conv():
    with torch.device("meta"):
        assert create_model("resnet50", in_chans=1).conv1.weight.shape == (64, 1, 7, 7)
        assert create_model("vgg11", in_chans=4).features[0].weight.shape == (64, 4, 3, 3)
        assert create_model("vgg11", num_classes=5).classifier[6].out_features == 5
