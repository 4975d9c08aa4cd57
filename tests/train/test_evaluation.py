"""Test-time augmentation: the views, their weights, and the averaged logits."""

import pytest
import torch
from torch import nn

from cnnlab.data.tta import shifted, tta_views
from cnnlab.settings import Settings
from cnnlab.train.validation import predict_logits


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


def test_flip_tta_averages_image_and_mirror():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    x = torch.rand(6, 3, 4, 4)
    batches = [(x, torch.zeros(6, dtype=torch.long))]
    logits, _ = predict_logits(model, batches, torch.float32, tta="flip")
    expected = (model(x) + model(x.flip(3))) / 2
    assert torch.allclose(logits, expected, atol=1e-6)
    plain, _ = predict_logits(model, batches, torch.float32)
    assert not torch.allclose(plain, expected, atol=1e-3)


def test_shift_tta_is_the_weighted_mean_of_six_views():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    x = torch.rand(2, 3, 4, 4)
    logits, _ = predict_logits(model, [(x, torch.zeros(2, dtype=torch.long))], torch.float32, tta="shift")
    views = [x, x.flip(3), shifted(x, -1, -1), shifted(x, 1, 1), shifted(x.flip(3), -1, -1), shifted(x.flip(3), 1, 1)]
    expected = sum(w * model(v) for w, v in zip([0.25, 0.25, 0.125, 0.125, 0.125, 0.125], views))
    assert torch.allclose(logits, expected, atol=1e-6)


def test_old_boolean_tta_settings_still_load():
    assert Settings.from_dict({"tta": True}).run.tta == "flip"
    assert Settings.from_dict({"tta": False}).run.tta == "none"
