"""Computed receptive fields equal the empirical ones: the input pixels with a non-zero gradient from one unit."""

import pytest
import torch
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.models.resnet import BasicBlock

from cnnlab.analysis import summarize
from cnnlab.errors import CnnlabError
from cnnlab.ops.receptive import Field

CHANNELS = 2


def positive(model: nn.Module) -> nn.Module:
    """Every weight and bias 0.1, in float64 and eval mode: all activations positive, so gradients never cancel."""
    model = model.double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(0.1)
    return model


def leaf_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of each leaf-module run, in execution order (copies, safe from later in-place ops)."""
    outputs: list[torch.Tensor] = []
    leaves = [module for module in model.modules() if next(module.children(), None) is None]
    handles = [leaf.register_forward_hook(lambda m, args, out: outputs.append(out.clone())) for leaf in leaves]
    model(x)
    for handle in handles:
        handle.remove()
    return outputs


def support(x: torch.Tensor, unit_value: torch.Tensor) -> list[tuple[int, int]]:
    """Per spatial axis, the first and last input index whose gradient from `unit_value` is non-zero."""
    (grad,) = torch.autograd.grad(unit_value, x, retain_graph=True)
    touched = grad[0].abs().sum(0) > 0
    extents = []
    for axis in range(touched.dim()):
        others = tuple(other for other in range(touched.dim()) if other != axis)
        indices = touched.any(dim=others).nonzero().flatten()
        extents.append((int(indices.min()), int(indices.max())))
    return extents


def covered(field: Field, unit: int) -> tuple[int, int]:
    """The first and last input pixel a unit's field covers (pixel p spans [p, p+1), so pixel 0's centre is 0.5)."""
    first = round(field.start - field.size / 2 + unit * field.jump)
    return first, first + field.size - 1


def check_every_layer(model: nn.Module, size: int) -> int:
    """Compare computed and empirical fields of the centre unit of every spatial layer output; returns how many.

    The input must be big enough that each of those fields lies inside it: past the border, gaps from strides and
    dilations can hide the field's true extent.
    """
    model = positive(model)
    try:
        summary = summarize(model, (CHANNELS, size, size))
    except CnnlabError:
        reject()
    x = torch.ones(1, CHANNELS, size, size, dtype=torch.float64, requires_grad=True)
    checked = 0
    for row, output in zip(summary.layers, leaf_outputs(model, x), strict=True):
        if not isinstance(row.reach, tuple):
            continue
        units = [length // 2 for length in output.shape[2:]]
        expected = [covered(field, unit) for field, unit in zip(row.reach, units)]
        assert all(0 <= first and last < size for first, last in expected), f"input {size} too small for {row.name}"
        assert support(x, output[(0, slice(None), *units)].sum()) == expected, f"{row.name} ({row.type})"
        checked += 1
    return checked


def roomy_size(model: nn.Module) -> int:
    """An input side that holds the centre unit's field of every layer (the centre may sit a stride off the middle)."""
    rows = summarize(model, (CHANNELS, 64, 64)).layers
    return max(field.size + 2 * field.jump for row in rows if isinstance(row.reach, tuple) for field in row.reach) + 8


def layers():
    """A conv (any kernel, stride, padding, dilation, padding mode) or an average pool, as a module."""
    conv = st.builds(
        lambda kh, kw, stride, padding, dilation, mode: nn.Sequential(
            nn.Conv2d(CHANNELS, CHANNELS, (kh, kw), stride, padding, dilation, padding_mode=mode), nn.ReLU()
        ),
        st.integers(1, 5), st.integers(1, 5), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2),
        st.sampled_from(["zeros", "reflect", "circular"]),
    )
    same = st.builds(
        lambda k, dilation: nn.Conv2d(CHANNELS, CHANNELS, k, padding="same", dilation=dilation),
        st.integers(1, 5), st.integers(1, 2),
    )
    pool = st.integers(1, 3).flatmap(
        lambda k: st.builds(nn.AvgPool2d, st.just(k), st.integers(1, 2), st.integers(0, k // 2))
    )
    return st.one_of(conv, same, pool)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=30, deadline=None)
@given(st.lists(layers(), min_size=1, max_size=4))
def test_plain_stacks_match_gradient_support(stack):
    model = nn.Sequential(*stack)
    assert check_every_layer(model, roomy_size(model)) >= 1


def test_residual_blocks_match_gradient_support():
    downsample = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2), nn.BatchNorm2d(8))
    model = nn.Sequential(
        nn.Conv2d(CHANNELS, 4, 3, padding=1),
        BasicBlock(4, 8, stride=2, downsample=downsample),
        BasicBlock(8, 8),
        nn.AdaptiveAvgPool2d(5),
    )
    assert check_every_layer(model, 40) == 1 + 7 + 6 + 1 + 1


class Inception(nn.Module):
    """Three branches (1x1, 3x3, padded 5x5) concatenated, then a strided conv and an adaptive pool."""

    def __init__(self) -> None:
        """The branches and the layers after them."""
        super().__init__()
        self.one = nn.Conv2d(CHANNELS, 2, 1)
        self.three = nn.Conv2d(CHANNELS, 2, 3, padding=1)
        self.five = nn.Sequential(nn.ZeroPad2d((1, 3, 2, 2)), nn.Conv2d(CHANNELS, 2, 5))
        self.mix = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the branches along channels, then mix and pool."""
        return self.pool(self.mix(torch.cat([self.one(x), self.three(x), self.five(x)], dim=1)))


def test_concatenated_branches_take_the_largest_field():
    assert check_every_layer(Inception(), 24) == 6
    rows = summarize(Inception(), (CHANNELS, 24, 24)).layers
    assert [row.receptive_field for row in rows] == [(1, 1), (3, 3), (1, 1), (5, 5), (7, 7), (11, 11)]
