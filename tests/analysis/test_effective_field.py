"""The effective receptive field: the input gradient of one unit, and the box of the pixels that move it."""

import pytest
import torch
from torch import nn

from cnnlab.analysis.effective_field import gradient_extent, input_gradient
from cnnlab.errors import CnnlabError


def test_two_stacked_3x3_convs_move_a_5x5_patch_and_stop_at_the_unit():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1), nn.Flatten(), nn.Linear(81, 2))
    with torch.no_grad():
        for conv in model[:2]:
            conv.weight.fill_(1.0)
    gradient = input_gradient(model, torch.randn(1, 1, 9, 9), 1, 0, 4, 6)
    assert gradient_extent(gradient) == {"top": 2, "bottom": 7, "left": 4, "right": 9}
    assert float(gradient[0, 4, 6]) == 9  # the centre reaches the unit through all nine paths
    first = input_gradient(model, torch.randn(1, 1, 9, 9), 0, 0, 0, 0)
    assert gradient_extent(first) == {"top": 0, "bottom": 2, "left": 0, "right": 2}  # clipped at the corner


def test_a_unit_a_relu_cuts_to_zero_is_moved_by_no_pixel():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.fill_(-1.0)
    assert gradient_extent(input_gradient(model, torch.ones(1, 1, 4, 4), 1, 0, 1, 1)) is None


def test_a_layer_past_the_last_is_refused():
    with pytest.raises(CnnlabError, match="no layer 5"):
        input_gradient(nn.Conv2d(1, 1, 1), torch.ones(1, 1, 2, 2), 5, 0, 0, 0)
