"""Training's evaluation with test-time augmentation: predict_logits averages the views' logits by weight."""

import torch
from torch import nn

from cnnlab.data.tta import shifted
from cnnlab.train.validation import predict_logits


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
