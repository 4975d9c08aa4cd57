"""The effective receptive field of one unit (Luo et al., 2016): how much each input pixel moves its value, the
gradient of the unit with respect to the image. Inside the theoretical field, and usually much smaller."""

from typing import Any

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.freeze import is_leaf


class _Reached(Exception):
    """Stops the forward pass once the unit's layer has run: nothing after it matters to the gradient."""


def input_gradient(model: nn.Module, image: torch.Tensor, index: int, channel: int, row: int, col: int) -> torch.Tensor:
    """d unit / d image for the unit (channel, row, col) of leaf run `index` (as `trace` numbers runs), (C, H, W)."""
    count, reached = [0], {}

    def after(_module: nn.Module, _args: Any, output: torch.Tensor) -> None:
        """Count the runs; at run `index`, keep its output and stop."""
        if count[0] == index:
            reached["output"] = output
            raise _Reached
        count[0] += 1

    handles = [module.register_forward_hook(after) for module in model.modules() if is_leaf(module)]
    model.eval()
    x = image.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            try:
                model(x)
            except _Reached:
                pass
            if "output" not in reached:
                raise CnnlabError(f"no layer {index}: the model runs {count[0]} layers")
            return torch.autograd.grad(reached["output"][0, channel, row, col], x)[0][0]
    finally:
        for handle in handles:
            handle.remove()


def gradient_extent(gradient: torch.Tensor) -> dict[str, int] | None:
    """The box [top, bottom) x [left, right) of the pixels whose gradient is not zero, None when none is."""
    moved = gradient.abs().sum(0) > 0
    rows, cols = moved.any(1).nonzero(), moved.any(0).nonzero()
    if not len(rows):
        return None
    return {"top": int(rows[0]), "bottom": int(rows[-1]) + 1, "left": int(cols[0]), "right": int(cols[-1]) + 1}
