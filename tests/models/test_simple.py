"""SimpleCNN and its exercise-2 variants (strided convs, kernel sizes, squeeze-and-excitation)."""

import itertools

import pytest
import torch
from torch import nn

from cnnlab.models import create_model
from cnnlab.models.layers import SqueezeExcite

COURSE_PARAMS = 620_810
CONV_CHANNELS = [(3, 32), (32, 64), (64, 128)]


def count(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def convs(model: nn.Module) -> list[nn.Conv2d]:
    """The network's own convolutions (not the 1x1 convs inside SE blocks)."""
    se_convs = {id(m) for se in model.modules() if isinstance(se, SqueezeExcite) for m in se.modules()}
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in se_convs]


def se_params(channels: int) -> int:
    """Parameters of one SE block: two 1x1 convs with bias through max(1, C // 16) hidden units."""
    hidden = max(1, channels // 16)
    return 2 * channels * hidden + hidden + channels


def test_course_network_layout():
    model = create_model("simplecnn")
    assert count(model) == COURSE_PARAMS
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs(model)] == [
        (i, o, (3, 3), (1, 1)) for i, o in CONV_CHANNELS
    ]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2048, 256), (256, 10)]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5]


@pytest.mark.parametrize(
    "pooling, kernel_size, se", list(itertools.product(["max", "strided"], [1, 3, 5], [False, True]))
)
def test_every_variant_runs_on_32x32(pooling, kernel_size, se):
    model = create_model("simplecnn", pooling=pooling, kernel_size=kernel_size, se=se).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 128, 4, 4)
        assert model(x).shape == (2, 10)


def test_strided_replaces_max_pooling_with_stride_two():
    model = create_model("simplecnn:pooling=strided")
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert [c.stride for c in convs(model)] == [(2, 2)] * 3
    assert count(model) == COURSE_PARAMS


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_kernel_size_changes_every_conv(kernel_size):
    model = create_model("simplecnn", kernel_size=kernel_size)
    assert {c.kernel_size for c in convs(model)} == {(kernel_size, kernel_size)}
    assert {c.padding for c in convs(model)} == {(kernel_size // 2, kernel_size // 2)}
    weights_per_tap = sum(i * o for i, o in CONV_CHANNELS)
    assert count(model) == COURSE_PARAMS + weights_per_tap * (kernel_size**2 - 9)


def test_se_adds_one_block_per_stage():
    model = create_model("simplecnn:se=true")
    assert [m.expand.out_channels for m in model.modules() if isinstance(m, SqueezeExcite)] == [32, 64, 128]
    assert count(model) == COURSE_PARAMS + sum(se_params(o) for _, o in CONV_CHANNELS)


def test_other_input_sizes_and_channels():
    model = create_model("simplecnn", in_chans=1, num_classes=3).eval()
    assert convs(model)[0].in_channels == 1 and count(model) == COURSE_PARAMS - 2 * 32 * 9 - 7 * 257
    with torch.no_grad():
        assert model(torch.randn(2, 1, 64, 64)).shape == (2, 3)
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_head_pooling_is_the_identity_at_32x32():
    model = create_model("simplecnn").eval()
    features = torch.randn(2, 128, 4, 4)
    with torch.no_grad():
        expected = model.classifier(model.hidden[1:](features.flatten(1)))
        torch.testing.assert_close(model.forward_head(features), expected)
