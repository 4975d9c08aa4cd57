"""One image through a model, every layer kept: what each leaf module took and gave, which layer fed it, and the
block it belongs to (a ResNet block with its shortcut), numbered in the order `summarize` numbers its rows.

Inputs and outputs are copied as they pass, so an in-place activation that follows (ReLU(inplace=True) after a
BatchNorm) does not overwrite what the BatchNorm gave."""

from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.analysis.tensors import tensors_in
from cnnlab.models.freeze import is_leaf

INPUT = -1  # the producer of a layer fed by the model's input
OUTSIDE = None  # the producer of a layer fed by an op outside any module (the residual addition, a flatten)
SHORTCUT_NAMES = ("downsample", "shortcut")


@dataclass
class LayerRun:
    """One run of a leaf module: its index (the row of `summarize`), name, what it took and gave for the image, and
    the index of the run whose output it took (INPUT for the image, None for an op outside modules)."""

    index: int
    name: str
    module: nn.Module
    input: torch.Tensor | None
    output: torch.Tensor | None
    producer: int | None

    @property
    def type(self) -> str:
        """The module's class name."""
        return type(self.module).__name__

    @property
    def block(self) -> str:
        """The qualified name of the module holding it ('' at the top); a shortcut's layers belong to its block."""
        parts = self.name.split(".")
        for index, part in enumerate(parts):
            if part in SHORTCUT_NAMES:
                return ".".join(parts[:index])
        return ".".join(parts[:-1])

    @property
    def on_shortcut(self) -> bool:
        """Whether it sits on a residual block's shortcut branch."""
        return any(part in SHORTCUT_NAMES for part in self.name.split("."))

    @property
    def spatial(self) -> bool:
        """Whether it gives feature maps (C, H, W) for one image."""
        return self.output is not None and self.output.dim() == 4


@dataclass
class Trace:
    """Every layer run for one normalised image (1, C, H, W), and the logits it ended in."""

    image: torch.Tensor
    runs: list[LayerRun]
    logits: torch.Tensor

    def run(self, index: int) -> LayerRun:
        """The run with this index."""
        return self.runs[index]

    def consumers(self, index: int) -> list[LayerRun]:
        """The runs that took this run's output."""
        return [run for run in self.runs if run.producer == index]


def _first_tensor(value: object) -> torch.Tensor | None:
    """The first tensor in a value, or None."""
    tensors = tensors_in(value)
    return tensors[0] if tensors else None


def residual_blocks(model: nn.Module) -> dict[str, str]:
    """Blocks with a shortcut branch: block name -> 'identity' or the shortcut module's name."""
    blocks = {}
    for name, module in model.named_modules():
        for attribute in SHORTCUT_NAMES:
            if hasattr(module, attribute) and not is_leaf(module):
                shortcut = getattr(module, attribute)
                has_layers = isinstance(shortcut, nn.Module) and not isinstance(shortcut, nn.Identity)
                blocks[name] = f"{name}.{attribute}" if has_layers else "identity"
    return blocks


@torch.no_grad()
def trace(model: nn.Module, image: torch.Tensor) -> Trace:
    """Run one normalised image (1, C, H, W) through the model in eval mode and keep every leaf module's run."""
    names = {module: name for name, module in model.named_modules()}
    runs: list[LayerRun] = []
    producers: dict[int, int] = {id(image): INPUT}
    alive: list[torch.Tensor] = [image]  # keeps the originals alive so their ids stay unique during the pass

    def after(module: nn.Module, args: tuple, output: object) -> None:
        """Record one run: copies of its input and output, and whose output its input was."""
        given, taken = _first_tensor(output), _first_tensor(args)
        producer = producers.get(id(taken), OUTSIDE) if taken is not None else OUTSIDE
        runs.append(LayerRun(len(runs), names[module], module, _copy(taken), _copy(given), producer))
        if given is not None:
            producers[id(given)] = len(runs) - 1
            alive.append(given)

    def before(module: nn.Module, args: tuple) -> None:
        """Keep an in-place module's input as it is now: the module writes over it before `after` sees it."""
        pending[module] = _copy(_first_tensor(args))

    pending: dict[nn.Module, torch.Tensor | None] = {}

    def after_inplace(module: nn.Module, args: tuple, output: object) -> None:
        """An in-place module's run, with the input it had before it wrote over it."""
        after(module, args, output)
        runs[-1].input = pending.pop(module, runs[-1].input)

    leaves = [module for module in model.modules() if is_leaf(module)]
    handles = []
    for module in leaves:
        if _inplace(module):
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after_inplace)]
        else:
            handles.append(module.register_forward_hook(after))
    model.eval()
    try:
        logits = model(image)
    finally:
        for handle in handles:
            handle.remove()
    return Trace(image, runs, logits)


def _inplace(module: nn.Module) -> bool:
    """Whether a module writes its output over its input."""
    return bool(getattr(module, "inplace", False))


def _copy(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """A detached copy, so later in-place ops leave it as it was."""
    return None if tensor is None else tensor.detach().clone()
