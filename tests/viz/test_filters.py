"""filter_tiles: zero is grey, a colour filter stays whole, other layers give one grey tile per input channel."""

import torch

from cnnlab.viz.filters import filter_tiles


def test_filter_tiles_put_zero_at_grey_and_keep_colour_filters_whole():
    weight = torch.zeros(2, 3, 3, 3)
    weight[0, 0, 1, 1], weight[0, 2, 0, 0] = 2.0, -1.0
    tiles = filter_tiles(weight)
    assert tiles.shape == (2, 3, 3, 3)
    assert tiles[0, 0, 1, 1] == 1.0 and tiles[0, 2, 0, 0] == 0.25 and tiles[0, 1, 2, 2] == 0.5
    assert torch.all(tiles[1] == 0.5)  # an all-zero filter stays grey
    assert filter_tiles(torch.randn(4, 8, 3, 3)).shape == (32, 1, 3, 3)
