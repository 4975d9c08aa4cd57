"""A per-layer summary of any model: output shapes, parameters, FLOPs and receptive fields, from one forward pass.

Rows are the leaf modules (modules without children) in the order they run; a module run twice gives two rows,
its parameters counted on the first. FLOPs are 2 x multiply-accumulates of convolutions and matrix products
(what torch.utils.flop_counter.FlopCounterMode counts), for one image. Activation memory is the sum of every
row's output tensors for one image, at the model's dtype (float32: 4 bytes per element); an in-place layer's
output counts again. Receptive fields are the theoretical ones (they may exceed the input).
"""

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.analysis.field_tracker import FieldTracker, Reach
from cnnlab.analysis.flops import FlopCounter
from cnnlab.analysis.tensors import tensors_in
from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import load_model
from cnnlab.models import create_model
from cnnlab.models.freeze import freeze, is_leaf, stage_report


@dataclass(frozen=True)
class LayerRow:
    """One run of a leaf module: where it sits, what it produced and what it cost, for one image."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    trainable: int
    flops: int
    output_bytes: int
    reach: Reach | None = field(repr=False)

    @property
    def receptive_field(self) -> tuple[int, ...] | str | None:
        """Receptive-field size in input pixels per spatial axis, GLOBAL, UNKNOWN, or None if the output has none."""
        return tuple(f.size for f in self.reach) if isinstance(self.reach, tuple) else self.reach

    @property
    def stride(self) -> tuple[int, ...] | None:
        """Effective stride (jump) in input pixels per spatial axis, when the field is local."""
        return tuple(f.jump for f in self.reach) if isinstance(self.reach, tuple) else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: receptive_field is a list per axis, "global", "unknown" or null."""
        rf = self.receptive_field
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "trainable": self.trainable,
            "flops": self.flops,
            "receptive_field": list(rf) if isinstance(rf, tuple) else rf,
            "stride": list(self.stride) if self.stride is not None else None,
        }


@dataclass(frozen=True)
class Totals:
    """Whole-model numbers: parameters, FLOPs and memory for one image."""

    params: int
    trainable_params: int
    flops: int
    activation_bytes: int
    input_bytes: int


@dataclass(frozen=True, repr=False)
class Summary:
    """What `summarize` found: the model's name, the input shape (no batch axis), the rows and the totals."""

    model: str
    input_shape: tuple[int, ...]
    layers: list[LayerRow]
    totals: Totals
    stages: list[dict] | None = None  # a trained run's stages with their trainable parameters (see models.freeze)

    def __repr__(self) -> str:
        """One line: the model, its input and totals (the layers are in `layers`)."""
        shape = "x".join(map(str, self.input_shape))
        return (f"Summary({self.model} on {shape}: {self.totals.params:,} parameters, {self.totals.flops:,} FLOPs, "
                f"{len(self.layers)} layers)")


    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return {
            "model": self.model,
            "input": list(self.input_shape),
            "layers": [row.to_dict() for row in self.layers],
            "totals": asdict(self.totals),
            **({"stages": self.stages} if self.stages is not None else {}),
        }


def _nbytes(value: Any) -> int:
    """Bytes of all tensors in a value."""
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors_in(value))


class _Recorder:
    """Forward hooks on every module: rows for leaf runs, and the stack of modules running now."""

    def __init__(self, model: nn.Module, fields: FieldTracker, flops: FlopCounter) -> None:
        """Name every module by its qualified name (the root by its class)."""
        self.names = {module: name or type(module).__name__ for name, module in model.named_modules()}
        self.fields, self.flops = fields, flops
        self.running: list[tuple[nn.Module, int]] = []
        self.rows: list[LayerRow] = []
        self.counted: set[nn.Module] = set()

    def attach(self, model: nn.Module) -> list[Any]:
        """Hook every module; returns the handles to remove."""
        handles = []
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(self.before))
            handles.append(module.register_forward_hook(self.after))
        return handles

    def before(self, module: nn.Module, args: Any) -> None:
        """A module starts: remember it and the FLOPs so far."""
        self.running.append((module, self.flops.total))

    def after(self, module: nn.Module, args: Any, output: Any) -> None:
        """A module ends: a leaf becomes a row."""
        _, flops_before = self.running.pop()
        if not is_leaf(module):
            return
        tensors = tensors_in(output)
        counted = [] if module in self.counted else list(module.parameters())
        self.counted.add(module)
        self.rows.append(
            LayerRow(
                name=self.names.get(module, type(module).__name__),
                type=type(module).__name__,
                output_shape=tuple(tensors[0].shape[1:]) if tensors else None,
                params=sum(p.numel() for p in counted),
                trainable=sum(p.numel() for p in counted if p.requires_grad),
                flops=self.flops.total - flops_before,
                output_bytes=_nbytes(output),
                reach=self.fields.reach(output),
            )
        )

    def where(self) -> str:
        """The innermost module running now, as `name (Type)`."""
        if not self.running:
            return "the model's forward"
        module = self.running[-1][0]
        return f"{self.names.get(module, '?')} ({type(module).__name__})"


def _example_input(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """A batch of one zero image on the model's device, in its floating dtype."""
    tensors = [*model.parameters(), *model.buffers()]
    reference = next((t for t in tensors if t.is_floating_point()), torch.empty(0))
    return torch.zeros(1, *input_shape, dtype=reference.dtype, device=reference.device)


def _run(model: nn.Module, name: str, x: torch.Tensor, recorder: _Recorder) -> None:
    """The forward pass in eval mode without gradients; a shape error names the layer where it broke."""
    modes = {module: module.training for module in model.modules()}
    handles = recorder.attach(model)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    except RuntimeError as err:
        shape = "x".join(map(str, x.shape[1:]))
        message = str(err).strip()
        reason = message.splitlines()[0] if message else type(err).__name__
        raise CnnlabError(f"input {shape} does not fit {name}: {recorder.where()} failed: {reason}") from None
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training


def summarize(model: nn.Module, input_shape: tuple[int, ...] = (3, 224, 224), name: str | None = None) -> Summary:
    """Run one image of `input_shape` (channels first, no batch axis) through the model and summarise each layer."""
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or any(d <= 0 for d in input_shape):
        raise CnnlabError(f"input shape {input_shape} must be non-empty with positive sizes, e.g. (3, 224, 224)")
    name = name or type(model).__name__
    x = _example_input(model, input_shape)
    fields, flops = FieldTracker(), FlopCounter()
    recorder = _Recorder(model, fields, flops)
    with fields, flops:
        if len(input_shape) > 1:
            fields.seed(x, spatial_axes=len(input_shape) - 1)
        _run(model, name, x, recorder)
    parameters = list(model.parameters())
    totals = Totals(
        params=sum(p.numel() for p in parameters),
        trainable_params=sum(p.numel() for p in parameters if p.requires_grad),
        flops=flops.total,
        activation_bytes=sum(row.output_bytes for row in recorder.rows),
        input_bytes=_nbytes(x),
    )
    return Summary(model=name, input_shape=input_shape, layers=recorder.rows, totals=totals)


def summarize_model(
    name: str, input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None
) -> Summary:
    """Summarise a zoo model by name or spec, built on the meta device (no memory, no init); input CxHxW or its default."""
    if input_shape is not None and len(input_shape) != 3:
        raise CnnlabError(f"input shape {'x'.join(map(str, input_shape))} must be CxHxW, e.g. 3x224x224")
    in_chans = input_shape[0] if input_shape is not None else None
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, in_chans=in_chans)
    return summarize(model, input_shape or model.default_cfg["input_size"], name=name)


def summarize_run(path: str | Path) -> Summary:
    """Summarise a trained run (or checkpoint) on its own input, with what its training left frozen and trainable."""
    loaded = load_model(path)
    freeze(loaded.model, loaded.settings.model.freeze if loaded.settings else "none")
    result = summarize(loaded.model, loaded.input_shape, name=f"{loaded.record.architecture} ({Path(path).name})")
    return replace(result, stages=stage_report(loaded.model))
