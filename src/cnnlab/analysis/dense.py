"""What weight sharing saves (course section 1): per conv layer, the weights of a fully connected layer with the
same input and output sizes, beside the conv's own.

For a 224x224x3 image (150,528 inputs), a dense layer of 1,000 units needs 150,528,000 weights (+1,000 biases);
a 3x3 filter over the 3 channels needs 27 (+1 bias), wherever it looks in the image.
"""

from dataclasses import asdict, dataclass
from math import prod
from typing import Any

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model

COURSE_UNITS = 1000  # the course's example: a dense layer of 1,000 units on the flattened image


@dataclass(frozen=True)
class DenseRow:
    """One conv layer: its input and output shapes (C, H, W), its weights and a same-size dense layer's."""

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    conv_weights: int
    conv_biases: int
    dense_weights: int
    dense_biases: int

    @property
    def ratio(self) -> float:
        """How many times more weights the dense layer needs."""
        return self.dense_weights / max(1, self.conv_weights)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {**asdict(self), "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "ratio": self.ratio}


@dataclass(frozen=True)
class DenseReport:
    """The model's input, the course's example on that input, and one row per conv layer."""

    model: str
    input_shape: tuple[int, ...]
    filter_weights: int
    rows: list[DenseRow]

    @property
    def inputs(self) -> int:
        """Values in one flattened input image."""
        return prod(self.input_shape)

    @property
    def course_dense_weights(self) -> int:
        """Weights of a dense layer of 1,000 units on the flattened image."""
        return self.inputs * COURSE_UNITS

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, with totals over the conv layers."""
        return {
            "model": self.model,
            "input": list(self.input_shape),
            "inputs": self.inputs,
            "course_example": {"units": COURSE_UNITS, "dense_weights": self.course_dense_weights,
                               "dense_biases": COURSE_UNITS, "first_filter_weights": self.filter_weights},
            "layers": [row.to_dict() for row in self.rows],
            "totals": {"conv_weights": sum(r.conv_weights for r in self.rows),
                       "dense_weights": sum(r.dense_weights for r in self.rows)},
        }


def conv_rows(model: nn.Module, input_shape: tuple[int, ...]) -> list[DenseRow]:
    """Run one image through the model (shapes only) and record every Conv2d call's input and output sizes."""
    names = {module: name for name, module in model.named_modules()}
    rows: list[DenseRow] = []

    def record(module: nn.Conv2d, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        """Append the row of one conv call."""
        inputs, outputs = tuple(args[0].shape[1:]), tuple(output.shape[1:])
        bias = module.bias.numel() if module.bias is not None else 0
        rows.append(DenseRow(names[module], inputs, outputs, module.weight.numel(), bias,
                             prod(inputs) * prod(outputs), prod(outputs)))

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    reference = next(model.parameters())
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=reference.device, dtype=reference.dtype))
    except RuntimeError as err:
        raise CnnlabError(f"input {'x'.join(map(str, input_shape))} does not fit this model: {err}") from None
    finally:
        for handle in handles:
            handle.remove()
    return rows


def dense_report(name: str, input_shape: tuple[int, int, int] | None = None) -> DenseReport:
    """The dense-equivalent report of a zoo model (built on the meta device) on `input_shape` or its default input."""
    in_chans = input_shape[0] if input_shape is not None else None
    with torch.device("meta"):
        model = create_model(name, in_chans=in_chans)
    shape = tuple(input_shape or model.default_cfg["input_size"])
    rows = conv_rows(model, shape)
    if not rows:
        raise CnnlabError(f"{name} has no Conv2d layer")
    first = rows[0]
    filter_weights = first.conv_weights // first.output_shape[0]  # one output channel's filter: k x k x C_in
    return DenseReport(name, shape, filter_weights, rows)
