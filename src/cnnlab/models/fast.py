"""A network built for speed to accuracy on CIFAR-sized images, in the manner of Keller Jordan's airbench (2024).

A fixed 2x2 patch-whitening convolution set from the training data's patch covariance (+/- each whitened direction:
`init_from_data`), then groups of [conv3x3, 2x2 max-pool, BN, act, conv3x3, BN, act] whose convs start as identities
on the channels they inherit, BatchNorms with a fixed unit scale and a trainable shift, a global max-pool whose
output is scaled down (`scale`, so the logits of the bias-free Linear are). `fast:widths=64-256-256` is airbench94's
shape; narrower widths trade accuracy for time.
"""

from typing import Any

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.base import ZooModel
from cnnlab.models.convnet import parse_counts
from cnnlab.models.registry import register_model
from cnnlab.models.spec import VariantValue

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def fixed_weight(module: nn.Module) -> None:
    """Turn the module's `weight` parameter into a buffer: saved and moved with the model, never trained."""
    weight = module.weight.detach().clone()
    del module.weight
    module.register_buffer("weight", weight)


class PatchWhitening(nn.Conv2d):
    """A KxK valid convolution whose filters whiten the image's KxK patches: set by `init_from_data`, not trained."""

    def __init__(self, in_chans: int, patch: int = 2, eps: float = 5e-4) -> None:
        """2 * in_chans * patch**2 output channels: each whitened direction and its negative (so ReLU-like
        activations keep both signs); the bias stays trainable."""
        super().__init__(in_chans, 2 * in_chans * patch * patch, patch, bias=True)
        self.eps = eps
        fixed_weight(self)
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the filters to W = Λ^-1/2 Vᵀ of the patch covariance of `images` (N, C, H, W, normalised)."""
        c, k = self.in_channels, self.kernel_size[0]
        if images.dim() != 4 or images.shape[1] != c:
            raise CnnlabError(f"patch whitening needs images of shape (N, {c}, H, W), got {tuple(images.shape)}")
        patches = images.double().unfold(2, k, 1).unfold(3, k, 1)  # N, C, H', W', k, k
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)  # rows in the conv weight's (C, k, k) order
        eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T))
        filters = eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + self.eps)[:, None]
        filters = filters.flip(0)  # strongest direction (largest variance) first
        self.weight.copy_(torch.cat([filters, -filters]).view_as(self.weight).to(self.weight.dtype))


class ShiftNorm(nn.BatchNorm2d):
    """BatchNorm whose scale is fixed at 1 and whose shift trains (airbench's choice); fast running statistics."""

    def __init__(self, channels: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        """Running statistics follow the batch with `momentum` (PyTorch's convention: the new batch's weight)."""
        super().__init__(channels, eps=eps, momentum=momentum)
        fixed_weight(self)


class ConvGroup(nn.Sequential):
    """conv3x3 → 2x2 max-pool → BN → act → conv3x3 → BN → act: halves the size, sets the width."""

    def __init__(self, in_chans: int, out_chans: int, act: type[nn.Module]) -> None:
        """Both convs are bias-free (the BN shifts follow them) and start as identities on their inputs' channels."""
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = ShiftNorm(out_chans)
        self.act1 = act()
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False)
        self.norm2 = ShiftNorm(out_chans)
        self.act2 = act()
        for conv in (self.conv1, self.conv2):
            identity_init(conv)


def identity_init(conv: nn.Conv2d) -> None:
    """Default (Kaiming-uniform) filters, with the first min(in, out) filters replaced by a Dirac: output channel i
    starts as a copy of input channel i."""
    with torch.no_grad():
        keep = min(conv.in_channels, conv.out_channels)
        nn.init.dirac_(conv.weight[:keep, :keep])
        conv.weight[:keep, keep:].zero_()


class FastNet(ZooModel):
    """Patch whitening, then ConvGroups of growing width, a global max-pool and a scaled bias-free Linear."""

    cam_layer = "features.2"

    def __init__(self, num_classes: int = 10, in_chans: int = 3, widths: VariantValue = "64-256-256",
                 act: str = "gelu", scale: VariantValue = 1 / 9) -> None:
        """Build the network; `scale` multiplies the logits (small logits at the start keep the first steps calm)."""
        super().__init__(num_classes)
        if act not in ACTIVATIONS:
            raise CnnlabError(f"fast act={act!r} is not one of: {', '.join(ACTIVATIONS)}")
        channels = parse_counts("widths", widths)
        whiten = PatchWhitening(in_chans)
        groups = [ConvGroup(c_in, c_out, ACTIVATIONS[act]) for c_in, c_out in
                  zip([whiten.out_channels, *channels[:-1]], channels)]
        self.features = nn.Sequential(whiten, ACTIVATIONS[act](), *groups)
        self.cam_layer = f"features.{len(groups) + 1}"
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.classifier = nn.Linear(channels[-1], num_classes, bias=False)
        self.scale = float(scale)

    @property
    def whiten(self) -> PatchWhitening:
        """The patch-whitening first layer."""
        return self.features[0]

    def init_from_data(self, images: torch.Tensor) -> None:
        """Data-dependent initialisation: whiten the patches of these (normalised) training images."""
        self.whiten.init_from_data(images)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images → the last group's feature map."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global max-pool scaled by `scale` (so the bias-free logits are scaled), then the classifier unless
        `pre_logits`."""
        x = self.pool(x).flatten(1) * self.scale
        return x if pre_logits else self.classifier(x)


@register_model(
    family="fast",
    default_input=(3, 32, 32),
    num_classes=10,
    paper="airbench: 94% on CIFAR-10 in 3.29 seconds on a single GPU (Jordan)",
    year=2024,
    variants={"widths": ("64-256-256", "32-128-128", "64-128-256"), "act": ("gelu", "relu"),
              "scale": (1 / 9, 1 / 8, 1 / 4)},
    open_variants=("widths", "scale"),
)
def fast(num_classes: int = 10, in_chans: int = 3, **variant: Any) -> FastNet:
    """Whitened 2x2 patches, conv groups (widths, `-`-joined), GELU or ReLU, a global max-pool, scaled logits."""
    return FastNet(num_classes, in_chans, **variant)
