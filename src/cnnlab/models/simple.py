"""SimpleCNN, the course's network (section 5), with the exercise-2 variants: strided convs, kernel size, SE."""

from itertools import pairwise
from typing import Any

from torch import nn

from cnnlab.models.base import FlattenHeadModel
from cnnlab.models.layers import ConvBNAct, SqueezeExcite
from cnnlab.models.registry import register_model

WIDTHS = (32, 64, 128)
FINAL_SIZE = 4  # 32x32 halved by three blocks; the head pools any other size to 4x4 so the flatten stays 128*4*4
HIDDEN = 256


def conv_block(in_chans: int, out_chans: int, kernel_size: int, pooling: str, se: bool) -> nn.Sequential:
    """conv-BN-ReLU then a 2x2 max-pool (`pooling='max'`) or a stride-2 conv instead (`'strided'`), then SE if asked."""
    stride = 2 if pooling == "strided" else 1
    layers: list[nn.Module] = [ConvBNAct(in_chans, out_chans, kernel_size, stride=stride)]
    if pooling == "max":
        layers.append(nn.MaxPool2d(2))
    if se:
        layers.append(SqueezeExcite(out_chans))
    return nn.Sequential(*layers)


class SimpleCNN(FlattenHeadModel):
    """Three conv blocks 3->32->64->128 on 32x32, flatten 2048 -> Linear 256 -> ReLU -> Dropout(0.5) -> Linear."""

    cam_layer = "features.2.0"  # the last conv-BN-ReLU, before its pooling

    def __init__(
        self, num_classes: int = 10, in_chans: int = 3, pooling: str = "max", kernel_size: int = 3, se: bool = False
    ) -> None:
        """Build the blocks and the head; the defaults give the course's network (620,810 parameters)."""
        super().__init__(num_classes)
        widths = (in_chans, *WIDTHS)
        self.features = nn.Sequential(
            *(conv_block(c_in, c_out, kernel_size, pooling, se) for c_in, c_out in pairwise(widths))
        )
        self.pool = nn.AdaptiveAvgPool2d(FINAL_SIZE)  # the identity on 32x32 inputs, where the map is already 4x4
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(WIDTHS[-1] * FINAL_SIZE**2, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(0.5)
        )
        self.classifier = nn.Linear(HIDDEN, num_classes)


@register_model(
    family="simplecnn",
    default_input=(3, 32, 32),
    num_classes=10,
    paper="the course's SimpleCNN (section 5)",
    year=None,
    variants={"pooling": ("max", "strided"), "kernel_size": (3, 1, 5), "se": (False, True)},
)
def simplecnn(num_classes: int = 10, in_chans: int = 3, **variant: Any) -> SimpleCNN:
    """The course's SimpleCNN for CIFAR-10 (620,810 parameters by default)."""
    return SimpleCNN(num_classes, in_chans, **variant)
