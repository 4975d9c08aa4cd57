"""Test-time augmentation views: the one-pixel shift with a mirrored border, and the views' weights."""

import pytest
import torch

from cnnlab.data.tta import shifted, tta_views


def test_shift_moves_the_content_by_one_pixel_and_mirrors_the_border():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    down_right = shifted(x, 1, 1)
    assert torch.equal(down_right[0, 0, 1:, 1:], x[0, 0, :3, :3])
    assert torch.equal(down_right[0, 0, 0, 1:], x[0, 0, 1, :3])  # the new top row mirrors row 1
    up_left = shifted(x, -1, -1)
    assert torch.equal(up_left[0, 0, :3, :3], x[0, 0, 1:, 1:])


@pytest.mark.parametrize("tta, count", [("none", 1), ("flip", 2), ("shift", 6)])
def test_views_weigh_one_in_all(tta, count):
    views = tta_views(torch.rand(2, 3, 8, 8), tta)
    assert len(views) == count
    assert sum(weight for weight, _ in views) == pytest.approx(1.0)
    assert all(view.shape == (2, 3, 8, 8) for _, view in views)
