"""Test-time augmentation: the weighted views of a batch whose logits are averaged."""

import torch
from torch import nn

from cnnlab.data.augment import crop_at


def shifted(images: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The batch moved by (rows, cols) pixels (content goes down/right for positive values), borders mirrored."""
    n = images.shape[0]
    top = torch.full((n,), 1 - rows, device=images.device)
    left = torch.full((n,), 1 - cols, device=images.device)
    return crop_at(images, top, left, padding=1, pad_mode="reflect")


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


def tta_logits(model: nn.Module, images: torch.Tensor, tta: str) -> torch.Tensor:
    """The weighted mean of the model's (fp32) logits over the `tta` views of a batch."""
    return sum(weight * model(view).float() for weight, view in tta_views(images, tta))
