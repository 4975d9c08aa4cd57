"""Running a model over a loader: logits (with optional test-time augmentation), loss and accuracy."""

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data.augment import crop_at
from cnnlab.train.precision import autocast


def shifted(images: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The batch moved by (rows, cols) pixels (content goes down/right for positive values), borders mirrored."""
    n = images.shape[0]
    top = torch.full((n,), 1 - rows, device=images.device)
    left = torch.full((n,), 1 - cols, device=images.device)
    return crop_at(images, top, left, padding=1)


def tta_views(images: torch.Tensor, tta: str) -> list[tuple[float, torch.Tensor]]:
    """The weighted views whose logits are averaged: the image alone (none); image and mirror (flip); and for
    shift also both moved one pixel up-left and down-right, the shifted pairs together weighing as much as the
    unshifted pair (airbench's multi-crop test-time augmentation)."""
    if tta == "none":
        return [(1.0, images)]
    pair = [images, images.flip(3)]
    if tta == "flip":
        return [(0.5, view) for view in pair]
    moved = [shifted(view, step, step) for view in pair for step in (-1, 1)]
    return [(0.25, view) for view in pair] + [(0.125, view) for view in moved]


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
            logits = sum(weight * model(view).float() for weight, view in tta_views(images, tta))
        all_logits.append(logits)
        all_labels.append(labels)
    model.train(was_training)
    return torch.cat(all_logits), torch.cat(all_labels)


def loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and top-1 accuracy."""
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()
