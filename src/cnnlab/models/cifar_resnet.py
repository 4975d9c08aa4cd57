"""He et al.'s CIFAR-10 networks (2015, section 4.2): 6n+2 layers, 16-32-64 widths, with or without shortcuts.

A 3x3 conv of 16 channels, then three stages of n blocks (two 3x3 conv-BN layers each) at 32x32, 16x16 and 8x8
with 16, 32 and 64 channels, global average pooling and a Linear: resnet20/32/44/56 (and 8) add each block's input
to its output (identity shortcuts; where the size halves and the channels double, the input is subsampled and
zero-padded: the paper's option A, no parameters), plain20/32/44/56 (and 8) are the same stack without them. So a
plain and a residual network of one depth have exactly the same parameters: the depth experiment of the paper.
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.models.base import ZooModel
from cnnlab.models.layers import he_init
from cnnlab.models.registry import register_model

WIDTHS = (16, 32, 64)
DEPTHS = (8, 20, 32, 44, 56)
PAPER = "Deep Residual Learning for Image Recognition (CIFAR-10 networks)"


class PadShortcut(nn.Module):
    """Option A: take every other pixel and pad the new channels with zeros (no parameters)."""

    def __init__(self, extra_channels: int) -> None:
        """`extra_channels` zero channels are added (half before, half after the input's)."""
        super().__init__()
        self.extra = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Subsample by 2 and zero-pad the channels."""
        half = self.extra // 2
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, self.extra - half))


class CifarBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut when `residual`, then ReLU."""

    def __init__(self, in_chans: int, out_chans: int, stride: int, residual: bool) -> None:
        """Build the two conv-BN layers and, for a residual block, its shortcut."""
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chans)
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.residual = residual
        changes = stride != 1 or in_chans != out_chans
        self.shortcut = PadShortcut(out_chans - in_chans) if residual and changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(F(x) + x) for a residual block, relu(F(x)) for a plain one."""
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + self.shortcut(x) if self.residual else out)


class CifarResNet(ZooModel):
    """conv1-bn1-relu, stages layer1..layer3 of n blocks, global average pool, fc."""

    classifier_path = "fc"
    cam_layer = "layer3"

    def __init__(self, depth: int, residual: bool, num_classes: int = 10, in_chans: int = 3) -> None:
        """Build the 6n+2-layer network (n = (depth - 2) / 6)."""
        super().__init__(num_classes)
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_chans, WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        channels = WIDTHS[0]
        for index, width in enumerate(WIDTHS):
            stride = 1 if index == 0 else 2
            first = CifarBlock(channels, width, stride, residual)
            rest = (CifarBlock(width, width, 1, residual) for _ in range(n - 1))
            self.add_module(f"layer{index + 1}", nn.Sequential(first, *rest))
            channels = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        he_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, 32, 32) -> feature map (N, 64, 8, 8)."""
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool and flatten; then fc unless `pre_logits`."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)


def _register(depth: int, residual: bool) -> None:
    """Register `resnet<depth>` or `plain<depth>` as a builder of the zoo."""
    kind = "resnet" if residual else "plain"

    def build(num_classes: int = 10, in_chans: int = 3, **_: Any) -> CifarResNet:
        """Build the network."""
        return CifarResNet(depth, residual, num_classes, in_chans)

    build.__name__ = f"{kind}{depth}"
    network = "ResNet" if residual else "plain network"
    build.__doc__ = f"He et al.'s CIFAR {network} of {depth} layers (n = {(depth - 2) // 6})."
    register_model(family=f"cifar-{kind}", default_input=(3, 32, 32), num_classes=10, paper=PAPER, year=2015)(build)


for _depth in DEPTHS:
    for _residual in (False, True):
        _register(_depth, _residual)
