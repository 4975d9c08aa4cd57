"""VGG (Simonyan & Zisserman, 2014): stacks of 3x3 convs between max-pools, with torchvision's parameter names."""

import torch
from torch import nn
from torchvision.models import (
    VGG11_BN_Weights,
    VGG11_Weights,
    VGG13_BN_Weights,
    VGG13_Weights,
    VGG16_BN_Weights,
    VGG16_Weights,
    VGG19_BN_Weights,
    VGG19_Weights,
)

from cnnlab.models.base import ZooModel
from cnnlab.models.layers import he_init
from cnnlab.models.registry import register_model

WIDTHS = (64, 128, 256, 512, 512)
CONVS_PER_STAGE = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
HIDDEN = 4096
FACTS = dict(family="vgg", paper="Very Deep Convolutional Networks for Large-Scale Image Recognition", year=2014)


def make_features(depth: int, in_chans: int, batch_norm: bool) -> nn.Sequential:
    """One flat Sequential: per stage, its 3x3 convs (each + BN if asked + ReLU), then a 2x2 max-pool."""
    layers: list[nn.Module] = []
    for width, convs in zip(WIDTHS, CONVS_PER_STAGE[depth], strict=True):
        for _ in range(convs):
            layers.append(nn.Conv2d(in_chans, width, 3, padding=1))
            layers.extend([nn.BatchNorm2d(width), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)])
            in_chans = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class VGG(ZooModel):
    """`features` (convs), `avgpool` to 7x7, `classifier` (25088 -> 4096 -> 4096 -> classes, ReLU + Dropout between)."""

    classifier_path = "classifier.6"

    def __init__(self, depth: int, num_classes: int = 1000, in_chans: int = 3, batch_norm: bool = False) -> None:
        """Build VGG-`depth` (11, 13, 16 or 19), optionally with BatchNorm after every conv."""
        super().__init__(num_classes)
        self.features = make_features(depth, in_chans, batch_norm)
        self.cam_layer = f"features.{len(self.features) - 2}"  # the last conv's ReLU, before the final max-pool
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(WIDTHS[-1] * 7 * 7, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(HIDDEN, num_classes),
        )  # fmt: skip
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal convs (fan-out), unit BatchNorm, small-normal Linear layers, zero biases."""
        he_init(self)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def head_modules(self) -> list[nn.Module]:
        """The three fully connected layers of `classifier`."""
        return [self.classifier]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> feature map (N, 512, H/32, W/32)."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool to 7x7, flatten, the two hidden Linear layers; then the last one unless `pre_logits`."""
        x = self.classifier[:-1](torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.classifier[-1](x)


@register_model(**FACTS, weights=VGG11_Weights)
def vgg11(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-11 (configuration A)."""
    return VGG(11, num_classes, in_chans)


@register_model(**FACTS, weights=VGG13_Weights)
def vgg13(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-13 (configuration B)."""
    return VGG(13, num_classes, in_chans)


@register_model(**FACTS, weights=VGG16_Weights)
def vgg16(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-16 (configuration D, 138,357,544 parameters)."""
    return VGG(16, num_classes, in_chans)


@register_model(**FACTS, weights=VGG19_Weights)
def vgg19(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-19 (configuration E)."""
    return VGG(19, num_classes, in_chans)


@register_model(**FACTS, weights=VGG11_BN_Weights)
def vgg11_bn(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-11 with BatchNorm."""
    return VGG(11, num_classes, in_chans, batch_norm=True)


@register_model(**FACTS, weights=VGG13_BN_Weights)
def vgg13_bn(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-13 with BatchNorm."""
    return VGG(13, num_classes, in_chans, batch_norm=True)


@register_model(**FACTS, weights=VGG16_BN_Weights)
def vgg16_bn(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-16 with BatchNorm."""
    return VGG(16, num_classes, in_chans, batch_norm=True)


@register_model(**FACTS, weights=VGG19_BN_Weights)
def vgg19_bn(num_classes: int = 1000, in_chans: int = 3) -> VGG:
    """VGG-19 with BatchNorm."""
    return VGG(19, num_classes, in_chans, batch_norm=True)
