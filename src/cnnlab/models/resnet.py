"""ResNet (He et al., 2015): residual blocks with identity shortcuts, with torchvision's parameter names."""

from typing import Any

import torch
from torch import nn
from torchvision.models import (
    ResNet18_Weights,
    ResNet34_Weights,
    ResNet50_Weights,
    ResNet101_Weights,
    ResNet152_Weights,
)

from cnnlab.models.base import ZooModel
from cnnlab.models.layers import SqueezeExcite, he_init
from cnnlab.models.registry import register_model

WIDTHS = (64, 128, 256, 512)
FACTS = dict(
    family="resnet",
    paper="Deep Residual Learning for Image Recognition",
    year=2015,
    variants={"stem": ("imagenet", "cifar"), "se": (False, True), "zero_init_residual": (False, True)},
    variant_inputs={"stem": {"cifar": (3, 32, 32)}},
)


def conv3x3(in_chans: int, out_chans: int, stride: int = 1) -> nn.Conv2d:
    """A 3x3 convolution with padding 1 and no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_chans: int, out_chans: int, stride: int = 1) -> nn.Conv2d:
    """A 1x1 convolution without bias: changes the channel count (and, strided, the size)."""
    return nn.Conv2d(in_chans, out_chans, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs on the residual path (ResNet-18/34); output channels = width."""

    expansion = 1

    def __init__(
        self, in_chans: int, width: int, stride: int = 1, downsample: nn.Module | None = None, se: bool = False
    ) -> None:
        """conv3x3(stride)-BN-ReLU-conv3x3-BN [-SE], added to the (downsampled) input, then ReLU."""
        super().__init__()
        self.conv1 = conv3x3(in_chans, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.se = SqueezeExcite(width) if se else nn.Identity()
        self.downsample = downsample

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The BatchNorm that ends the residual path (zeroed by `zero_init_residual`)."""
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(F(x) + shortcut(x))."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, as torchvision's "v1.5"), 1x1 expand (ResNet-50/101/152); output = 4 * width."""

    expansion = 4

    def __init__(
        self, in_chans: int, width: int, stride: int = 1, downsample: nn.Module | None = None, se: bool = False
    ) -> None:
        """conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1-BN [-SE], added to the (downsampled) input, then ReLU."""
        super().__init__()
        out_chans = width * self.expansion
        self.conv1 = conv1x1(in_chans, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_chans)
        self.bn3 = nn.BatchNorm2d(out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(out_chans) if se else nn.Identity()
        self.downsample = downsample

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The BatchNorm that ends the residual path (zeroed by `zero_init_residual`)."""
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(F(x) + shortcut(x))."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(out + shortcut)


Block = type[BasicBlock] | type[Bottleneck]


def make_stage(block: Block, in_chans: int, width: int, count: int, stride: int, se: bool) -> nn.Sequential:
    """`count` blocks; the first one strides and, when the shape changes, gets a conv1x1-BN shortcut."""
    out_chans = width * block.expansion
    downsample = None
    if stride != 1 or in_chans != out_chans:
        downsample = nn.Sequential(conv1x1(in_chans, out_chans, stride), nn.BatchNorm2d(out_chans))
    first = block(in_chans, width, stride, downsample, se)
    return nn.Sequential(first, *(block(out_chans, width, se=se) for _ in range(count - 1)))


class ResNet(ZooModel):
    """Stem (conv1, bn1, relu, maxpool), four stages layer1..layer4, global average pool, fc."""

    classifier_path = "fc"
    cam_layer = "layer4"

    def __init__(
        self,
        block: Block,
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: str = "imagenet",
        se: bool = False,
        zero_init_residual: bool = False,
    ) -> None:
        """Build a ResNet; `stem='cifar'` swaps the 7x7/2 conv + max-pool for one 3x3/1 conv (for 32x32 inputs)."""
        super().__init__(num_classes)
        if stem == "cifar":
            self.conv1 = conv3x3(in_chans, WIDTHS[0])
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_chans, WIDTHS[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        channels = WIDTHS[0]
        for index, (width, count) in enumerate(zip(WIDTHS, layers, strict=True)):
            stage = make_stage(block, channels, width, count, stride=1 if index == 0 else 2, se=se)
            self.add_module(f"layer{index + 1}", stage)
            channels = width * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        """He-normal convs (fan-out), unit BatchNorm; `zero_init_residual` zeroes the last BN of every block."""
        he_init(self)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_bn.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> feature map (N, 512 * expansion, H/32, W/32) (H/8 with the CIFAR stem)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool and flatten; then fc unless `pre_logits`."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)


@register_model(**FACTS, weights=ResNet18_Weights)
def resnet18(num_classes: int = 1000, in_chans: int = 3, **variant: Any) -> ResNet:
    """ResNet-18 (11,689,512 parameters)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_chans, **variant)


@register_model(**FACTS, weights=ResNet34_Weights)
def resnet34(num_classes: int = 1000, in_chans: int = 3, **variant: Any) -> ResNet:
    """ResNet-34."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_chans, **variant)


@register_model(**FACTS, weights=ResNet50_Weights)
def resnet50(num_classes: int = 1000, in_chans: int = 3, **variant: Any) -> ResNet:
    """ResNet-50 (25,557,032 parameters)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_chans, **variant)


@register_model(**FACTS, weights=ResNet101_Weights)
def resnet101(num_classes: int = 1000, in_chans: int = 3, **variant: Any) -> ResNet:
    """ResNet-101."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_chans, **variant)


@register_model(**FACTS, weights=ResNet152_Weights)
def resnet152(num_classes: int = 1000, in_chans: int = 3, **variant: Any) -> ResNet:
    """ResNet-152 (60,192,808 parameters)."""
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, in_chans, **variant)
