"""Validation during training: a model's logits over a loader (with optional test-time augmentation), loss and accuracy."""

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data.tta import tta_logits
from cnnlab.train.precision import autocast


@torch.no_grad()
def predict_logits(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], dtype: torch.dtype, tta: str = "none"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) over every batch in eval mode; with `tta` the weighted mean of the views' logits."""
    was_training = model.training
    model.eval()
    all_logits, all_labels = [], []
    for images, labels in batches:
        with autocast(images.device, dtype):
            logits = tta_logits(model, images, tta)
        all_logits.append(logits)
        all_labels.append(labels)
    model.train(was_training)
    return torch.cat(all_logits), torch.cat(all_labels)


def loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and top-1 accuracy."""
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()
