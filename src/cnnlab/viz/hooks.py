"""Forward hooks: find a layer by name and capture what chosen layers output during one forward pass."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from cnnlab.errors import CnnlabError


def find_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """(name, module) of a named layer, or of the model's Grad-CAM default (its last convolutional stage)."""
    if name is None:
        name = getattr(model, "cam_layer", None)
        if name is None:
            raise CnnlabError("this model names no default layer: pass `layer` NAME (see `cnnlab summary`)")
    try:
        if not name:
            raise AttributeError(name)  # "" is the whole model to get_submodule, which is no layer
        return name, model.get_submodule(name)
    except AttributeError:
        raise CnnlabError(f"no layer {name!r} in this model; its conv layers are: {', '.join(conv_layers(model))}"
                          ) from None


def conv_layers(model: nn.Module) -> list[str]:
    """The names of the model's convolutions."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


@contextmanager
def capture(model: nn.Module, names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, the last output of each named layer is in the yielded dict under its name."""
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        _, layer = find_layer(model, name)
        handles.append(layer.register_forward_hook(lambda _m, _i, out, key=name: outputs.__setitem__(key, out)))
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
