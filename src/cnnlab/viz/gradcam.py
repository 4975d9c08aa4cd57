"""Grad-CAM and Grad-CAM++: where in the image the evidence for a class lies, from a layer's activations and
the gradients of the class score with respect to them (Selvaraju et al. 2017; Chattopadhay et al. 2018)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.viz.hooks import capture, find_layer

METHODS = ("gradcam", "gradcam++")


@dataclass
class CamResult:
    """Heatmaps in [0, 1] at the input's size (N, H, W), the explained classes and their probabilities."""

    maps: torch.Tensor
    classes: torch.Tensor
    probabilities: torch.Tensor
    layer: str


def channel_weights(activations: torch.Tensor, gradients: torch.Tensor, method: str) -> torch.Tensor:
    """(N, C) weight of each feature map: the mean gradient (Grad-CAM), or the positive gradients weighted by
    Grad-CAM++'s alpha coefficients."""
    if method == "gradcam":
        return gradients.mean(dim=(2, 3))
    squared = gradients**2
    cubed = squared * gradients
    total = activations.sum(dim=(2, 3), keepdim=True)
    alpha = squared / (2 * squared + total * cubed + 1e-7)
    alpha = torch.where(gradients != 0, alpha, torch.zeros_like(alpha))
    return (F.relu(gradients) * alpha).sum(dim=(2, 3))


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (H, W) map to [0, 1] by its own minimum and maximum."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    maps = maps - low
    return maps / (maps.amax(dim=(1, 2), keepdim=True) + 1e-7)


def grad_cam(
    model: nn.Module, images: torch.Tensor, layer: str | None = None, classes: torch.Tensor | None = None,
    method: str = "gradcam", multi_label: bool = False,
) -> CamResult:
    """Heatmaps for normalised images (N, C, H, W): for `classes` (default: the predicted ones) at `layer`
    (default: the model's last convolutional stage). For a `multi_label` model each class is a label of its own: its
    logit is the score explained, and its probability a sigmoid."""
    if method not in METHODS:
        raise CnnlabError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    name, _ = find_layer(model, layer)
    model.eval()
    with torch.enable_grad(), capture(model, [name]) as outputs:
        logits = model(images.detach().requires_grad_(True))
        activations = outputs[name]
        if activations.dim() != 4:
            raise CnnlabError(f"layer {name!r} outputs shape {tuple(activations.shape)}: Grad-CAM needs a feature map")
        chosen = logits.argmax(1) if classes is None else classes.to(logits.device)
        score = logits.gather(1, chosen[:, None]).sum()
        gradients = torch.autograd.grad(score, activations)[0]
    weights = channel_weights(activations.detach(), gradients, method)
    maps = normalize_maps(F.relu((weights[:, :, None, None] * activations.detach()).sum(1)))
    maps = F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    probabilities = (logits.detach().sigmoid() if multi_label else logits.detach().softmax(1)).gather(1, chosen[:, None])[:, 0]
    return CamResult(maps, chosen, probabilities, name)
