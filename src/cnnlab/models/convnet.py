"""A plain CNN built from a spec string, for exercise 1: `convnet:widths=64-128-256,convs=2,dropout=0.2,head=gap`.

Each block is [conv3x3-BN-ReLU] x convs, then a 2x2 pooling (max or average) and Dropout; the head is global
average pooling then Dropout and a Linear (`head=gap`), or a flatten of a 4x4 grid, Linear 256, ReLU, Dropout,
Linear (`head=fc`).
"""

from typing import Any

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.base import FlattenHeadModel
from cnnlab.models.layers import ConvBNAct, he_init
from cnnlab.models.registry import register_model
from cnnlab.models.simple import FINAL_SIZE as FC_GRID  # head=fc is SimpleCNN's head: pool to 4x4, flatten, 256
from cnnlab.models.simple import HIDDEN as FC_HIDDEN
from cnnlab.models.spec import VariantValue

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def parse_counts(key: str, value: VariantValue, blocks: int | None = None) -> list[int]:
    """`64-128-256` (or one number) as a list of positive ints; with `blocks`, one number repeats per block."""
    try:
        counts = [int(part) for part in str(value).split("-")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise CnnlabError(f"convnet {key}={value!r} must be positive integers joined by '-', e.g. 64-128-256")
    if blocks is not None and len(counts) == 1:
        counts *= blocks
    if blocks is not None and len(counts) != blocks:
        raise CnnlabError(f"convnet {key}={value!r} gives {len(counts)} numbers for {blocks} blocks")
    return counts


def parse_dropout(value: VariantValue) -> float:
    """A dropout probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise CnnlabError(f"convnet dropout={value!r} must be a probability in [0, 1), e.g. 0.2")
    return float(value)


def conv_block(in_chans: int, out_chans: int, convs: int, pool: str, dropout: float) -> nn.Sequential:
    """`convs` conv3x3-BN-ReLU layers, a 2x2 pooling, then Dropout (left out when the probability is 0)."""
    layers = [ConvBNAct(in_chans, out_chans, bias=False)]
    layers += [ConvBNAct(out_chans, out_chans, bias=False) for _ in range(convs - 1)]
    return nn.Sequential(*layers, POOLS[pool](2), *dropout_layer(dropout))


def dropout_layer(rate: float) -> list[nn.Module]:
    """[Dropout(rate)], or nothing when the rate is 0."""
    return [nn.Dropout(rate)] if rate else []


class ConvNet(FlattenHeadModel):
    """Blocks of [conv-BN-ReLU] x k + pooling + Dropout, then a GAP or a fully connected head."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 3, widths: VariantValue = "32-64-128", convs: VariantValue = 2,
        dropout: VariantValue = 0.2, head: str = "gap", pool: str = "max",
    ) -> None:
        """Build the blocks from the spec's values (checked here: they come from the command line)."""
        super().__init__(num_classes)
        channels = parse_counts("widths", widths)
        per_block = parse_counts("convs", convs, len(channels))
        rate = parse_dropout(dropout)
        inputs = [in_chans, *channels[:-1]]
        self.features = nn.Sequential(
            *(conv_block(c_in, c_out, k, pool, rate) for c_in, c_out, k in zip(inputs, channels, per_block))
        )
        self.cam_layer = f"features.{len(channels) - 1}.{per_block[-1] - 1}"  # the last conv-BN-ReLU, before pooling
        last = channels[-1]
        if head == "gap":
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.hidden = nn.Sequential(nn.Flatten(), *dropout_layer(rate))
            self.classifier = nn.Linear(last, num_classes)
        else:
            self.pool = nn.AdaptiveAvgPool2d(FC_GRID)
            self.hidden = nn.Sequential(
                nn.Flatten(), nn.Linear(last * FC_GRID**2, FC_HIDDEN), nn.ReLU(inplace=True), *dropout_layer(rate)
            )
            self.classifier = nn.Linear(FC_HIDDEN, num_classes)
        he_init(self)


@register_model(
    family="convnet",
    default_input=(3, 32, 32),
    num_classes=10,
    paper="a plain CNN of your own (the course's exercise 1)",
    year=None,
    variants={
        "widths": ("32-64-128", "64-128-256"),
        "convs": (2, 1, 3),
        "dropout": (0.2, 0.0, 0.3, 0.5),
        "head": ("gap", "fc"),
        "pool": ("max", "avg"),
    },
    open_variants=("widths", "convs", "dropout"),
)
def convnet(num_classes: int = 10, in_chans: int = 3, **variant: Any) -> ConvNet:
    """A plain CNN from a spec: widths per block (`-`-joined), convs per block, dropout, head (gap|fc), pool."""
    return ConvNet(num_classes, in_chans, **variant)
