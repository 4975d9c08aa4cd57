"""LeNet-5 (LeCun et al., 1998) on 1x32x32 images: two 5x5 conv + average-pool stages, then 120 -> 84 -> classes."""

from typing import Any

from torch import nn

from cnnlab.models.base import FlattenHeadModel
from cnnlab.models.registry import register_model

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
FINAL_SIZE = 5  # 32 -> 28 -> 14 -> 10 -> 5; other input sizes are pooled to 5x5 so the flatten stays 16*5*5


class LeNet5(FlattenHeadModel):
    """conv5 6 -> avg-pool -> conv5 16 -> avg-pool -> 120 -> 84 -> classes, tanh by default (61,706 parameters).

    The paper's subsampling layers had a trainable scale and bias and C3 used a sparse connection table;
    here they are a plain 2x2 average pool and a full 6->16 convolution, as is usual today.
    """

    cam_layer = "features.4"  # the second conv's activation, before its pooling

    def __init__(self, num_classes: int = 10, in_chans: int = 1, act: str = "tanh") -> None:
        """Build the two conv stages and the three fully connected layers."""
        super().__init__(num_classes)
        activation = ACTIVATIONS[act]
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5), activation(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), activation(), nn.AvgPool2d(2),
        )  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(FINAL_SIZE)  # the identity on 32x32 inputs
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * FINAL_SIZE**2, 120), activation(), nn.Linear(120, 84), activation()
        )
        self.classifier = nn.Linear(84, num_classes)


@register_model(
    family="lenet",
    default_input=(1, 32, 32),
    num_classes=10,
    paper="Gradient-Based Learning Applied to Document Recognition (LeCun et al.)",
    year=1998,
    variants={"act": ("tanh", "relu")},
)
def lenet5(num_classes: int = 10, in_chans: int = 1, **variant: Any) -> LeNet5:
    """LeNet-5 with tanh (or `act='relu'`) and average-pool subsampling (61,706 parameters)."""
    return LeNet5(num_classes, in_chans, **variant)
