"""Reusable building blocks of the zoo: conv-BatchNorm-ReLU, squeeze-and-excitation, He init, the first conv."""

import torch
from torch import nn

from cnnlab.errors import CnnlabError


class ConvBNAct(nn.Sequential):
    """A KxK convolution (padding K//2, so stride 1 keeps the size), BatchNorm, then ReLU."""

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int = 3, stride: int = 1, bias: bool = True) -> None:
        """Build conv -> bn -> act; `bias=True` keeps the conv's bias as the course's SimpleCNN does."""
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)
        self.bn = nn.BatchNorm2d(out_chans)
        self.act = nn.ReLU(inplace=True)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., 2017): rescale each channel by a gate computed from its global average."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        """Two 1x1 convs, channels -> max(1, channels // reduction) -> channels, with ReLU then sigmoid."""
        super().__init__()
        hidden = max(1, channels // reduction)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Squeeze (global average), excite (bottleneck MLP + sigmoid), and scale the input channel-wise."""
        weights = self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))
        return x * weights


def he_init(model: nn.Module) -> None:
    """He-normal (fan-out) conv weights and zero conv biases, unit BatchNorm: torchvision's ResNet and VGG init."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def first_conv(model: nn.Module) -> str:
    """The qualified name of the model's first Conv2d (the one that sees the image channels)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name
    raise CnnlabError(f"{type(model).__name__} has no Conv2d layer")
