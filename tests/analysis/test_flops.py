"""FLOPs of summarize agree with torch.utils.flop_counter.FlopCounterMode on the zoo and on torchvision models."""

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.analysis import summarize
from cnnlab.models import create_model, list_models


def torch_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs that torch's own counter sees for one image."""
    parameter = next(model.parameters())
    x = torch.zeros(1, *input_shape, dtype=parameter.dtype, device=parameter.device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(x)
    return counter.get_total_flops()


def meta(builder, *args, **kwargs) -> nn.Module:
    """A model built on the meta device."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


@pytest.mark.parametrize("builder", [torchvision.models.resnet18, torchvision.models.vgg11], ids=["resnet18", "vgg11"])
def test_torchvision_models_match_flop_counter(builder):
    model = meta(builder)
    summary = summarize(model, (3, 224, 224))
    assert summary.totals.flops == torch_flops(model, (3, 224, 224)) > 0
    assert sum(row.flops for row in summary.layers) == summary.totals.flops


@pytest.mark.parametrize("name", [info.name for info in list_models()])
def test_zoo_models_match_flop_counter(name):
    model = meta(create_model, name)
    shape = model.default_cfg["input_size"]
    assert summarize(model, shape).totals.flops == torch_flops(model, shape) > 0


def test_grouped_transposed_and_matrix_product_layers_match_flop_counter():
    class Mixed(nn.Module):
        """Grouped and transposed convolutions, then attention-like matrix products across the pixels."""

        def __init__(self) -> None:
            """The layers."""
            super().__init__()
            self.grouped = nn.Conv2d(8, 16, 3, groups=4, padding=1)
            self.up = nn.ConvTranspose2d(16, 8, 3, stride=2)
            self.query = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """Convolve, upsample, then mix all positions with (q @ t^T) @ t."""
            tokens = self.up(self.grouped(x)).flatten(2).transpose(1, 2)
            return (self.query(tokens) @ tokens.transpose(1, 2)).softmax(-1) @ tokens

    summary = summarize(Mixed(), (8, 6, 6))
    assert summary.totals.flops == torch_flops(Mixed(), (8, 6, 6))
    rows = {row.name: row for row in summary.layers}
    assert rows["grouped"].flops == 2 * (16 * 6 * 6) * (2 * 3 * 3)
    assert rows["up"].flops == 2 * (16 * 6 * 6) * (8 * 3 * 3)
    positions = 13 * 13
    assert rows["query"].flops == 2 * positions * 8 * 8
    assert summary.totals.flops - sum(row.flops for row in summary.layers) == 2 * (2 * positions * 8 * positions)
