"""Receptive field of every tensor in a forward pass, carried through any graph by a torch function mode.

Each tensor derived from the input carries a Reach: one `Field` per spatial axis, GLOBAL when each unit sees
the whole input, or UNKNOWN after an op whose geometry is not modelled (upsampling, transposed convolution).
Convolution, pooling and padding grow the field with `Field.then`; an element-wise op, `cat` or a reshape that
keeps the spatial axes takes the largest field among its inputs (through branches the receptive field is the
largest path); linear layers, matrix products, global pooling and anything that collapses the spatial axes
make it GLOBAL.
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

from cnnlab.analysis.tensors import tensors_in
from cnnlab.ops.receptive import Field

GLOBAL = "global"
UNKNOWN = "unknown"
Reach = Union[tuple[Field, ...], str]
Window = tuple[int, int, int, int]
"""Kernel, stride, padding and dilation of an op along one spatial axis."""


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """An op's argument given by position or by keyword, else its default."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _per_axis(value: int | Sequence[int], axes: int) -> tuple[int, ...]:
    """An int, or a sequence of one int per axis, as one int per axis."""
    values = (value,) if isinstance(value, int) else tuple(int(v) for v in value)
    return values * axes if len(values) == 1 else values


def _conv_windows(args: tuple, kwargs: dict, out: torch.Tensor) -> list[Window]:
    """Windows of F.conv1d/2d/3d, whose padding may also be 'valid' or 'same'."""
    kernels = tuple(_arg(args, kwargs, 1, "weight").shape[2:])
    axes = len(kernels)
    strides = _per_axis(_arg(args, kwargs, 3, "stride", 1), axes)
    dilations = _per_axis(_arg(args, kwargs, 5, "dilation", 1), axes)
    padding = _arg(args, kwargs, 4, "padding", 0)
    if padding == "valid":
        pads = (0,) * axes
    elif padding == "same":
        pads = tuple(d * (k - 1) // 2 for k, d in zip(kernels, dilations))
    else:
        pads = _per_axis(padding, axes)
    return list(zip(kernels, strides, pads, dilations))


def _pool_windows(args: tuple, kwargs: dict, out: torch.Tensor, axes: int, dilated: bool) -> list[Window]:
    """Windows of max/average pooling; the stride defaults to the kernel."""
    kernels = _per_axis(_arg(args, kwargs, 1, "kernel_size"), axes)
    strides = _per_axis(_arg(args, kwargs, 2, "stride") or kernels, axes)
    pads = _per_axis(_arg(args, kwargs, 3, "padding", 0), axes)
    dilations = _per_axis(_arg(args, kwargs, 4, "dilation", 1) if dilated else 1, axes)
    return list(zip(kernels, strides, pads, dilations))


def _widest(size_in: int, size_out: int) -> int:
    """The widest window of adaptive pooling, where unit i pools [floor(i*in/out), ceil((i+1)*in/out))."""
    return max(-(-(i + 1) * size_in // size_out) - i * size_in // size_out for i in range(size_out))


def _adaptive_windows(args: tuple, kwargs: dict, out: torch.Tensor, axes: int) -> list[Window] | str:
    """Adaptive pooling: GLOBAL down to one unit, else its widest window at stride in//out (exact when sizes divide)."""
    sizes_in = _arg(args, kwargs, 0, "input").shape[-axes:]
    sizes_out = out.shape[-axes:]
    if all(size == 1 for size in sizes_out):
        return GLOBAL
    return [(_widest(i, o), max(i // o, 1), 0, 1) for i, o in zip(sizes_in, sizes_out)]


def _pad_windows(args: tuple, kwargs: dict, out: torch.Tensor) -> list[Window]:
    """F.pad as a 1-wide window per axis of its input; `pad` lists (before, after) pairs from the last axis back."""
    pad = _arg(args, kwargs, 1, "pad")
    dims = out.dim()
    befores = [pad[2 * (dims - 1 - dim)] if 2 * (dims - 1 - dim) < len(pad) else 0 for dim in range(dims)]
    return [(1, 1, before, 1) for before in befores]


def _rank(ops: Sequence[Callable], windows: Callable, **options: Any) -> dict[Callable, Callable]:
    """Map the 1-D, 2-D and 3-D variants of an op to its window function, with the op's number of axes."""
    return {op: partial(windows, axes=axes, **options) for axes, op in enumerate(ops, start=1)}


_WINDOW_OPS: dict[Callable, Callable[..., list[Window] | str]] = {
    F.conv1d: _conv_windows,
    F.conv2d: _conv_windows,
    F.conv3d: _conv_windows,
    F.pad: _pad_windows,
    **_rank((F.max_pool1d, F.max_pool2d, F.max_pool3d), _pool_windows, dilated=True),
    **_rank((F.avg_pool1d, F.avg_pool2d, F.avg_pool3d), _pool_windows, dilated=False),
    **_rank((F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d), _adaptive_windows),
    **_rank((F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d), _adaptive_windows),
}

_GLOBAL_OPS = {
    F.linear,
    F.bilinear,
    F.scaled_dot_product_attention,
    torch.matmul,
    torch.Tensor.matmul,
    torch.mm,
    torch.Tensor.mm,
    torch.bmm,
    torch.Tensor.bmm,
    torch.addmm,
    torch.baddbmm,
    torch.einsum,
}


def largest(reaches: Sequence[Reach]) -> Reach:
    """The largest of several reaches, axis by axis: GLOBAL beats everything, UNKNOWN beats any local field."""
    if GLOBAL in reaches:
        return GLOBAL
    if UNKNOWN in reaches or len({len(reach) for reach in reaches}) > 1:
        return UNKNOWN
    return tuple(max(fields, key=lambda field: (field.size, field.jump)) for fields in zip(*reaches))


def _grown(reach: Reach, windows: list[Window] | str) -> Reach:
    """A reach after a windowed op, whose windows cover the last axes of its input (at least the spatial ones)."""
    if windows == GLOBAL or not isinstance(reach, tuple):
        return GLOBAL if GLOBAL in (windows, reach) else reach
    if len(windows) < len(reach):
        return UNKNOWN
    return tuple(field.then(*window) for field, window in zip(reach, windows[len(windows) - len(reach) :]))


def _kept(reach: Reach, source: torch.Tensor, out: torch.Tensor) -> Reach:
    """What an output of a shape-agnostic op keeps: the field if the spatial axes survive, GLOBAL if they collapse."""
    if not isinstance(reach, tuple):
        return reach
    axes = len(reach)
    if out.dim() >= axes and out.shape[out.dim() - axes :] == source.shape[source.dim() - axes :]:
        return reach
    return GLOBAL if out.dim() < source.dim() else UNKNOWN


class FieldTracker(TorchFunctionMode):
    """While active, gives every tensor computed from a seeded input the Reach of its units."""

    def __init__(self) -> None:
        """Start with no tensor tracked."""
        super().__init__()
        self._reach: WeakIdKeyDictionary = WeakIdKeyDictionary()

    def seed(self, tensor: torch.Tensor, spatial_axes: int) -> None:
        """Mark a model input: each unit sees one pixel along each of its last `spatial_axes` axes."""
        self._reach[tensor] = (Field(),) * spatial_axes

    def reach(self, value: Any) -> Reach | None:
        """The Reach of the first tensor in a value, or None when it carries none."""
        tensors = tensors_in(value)
        return self._reach.get(tensors[0]) if tensors else None

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        """Run the op, then give each of its output tensors the reach the op implies."""
        kwargs = kwargs or {}
        sources = [tensor for tensor in tensors_in((args, kwargs)) if tensor in self._reach]
        out = func(*args, **kwargs)
        outputs = tensors_in(out)
        if not sources or not outputs:
            return out
        reach = largest([self._reach[tensor] for tensor in sources])
        if func in _GLOBAL_OPS:
            reaches = [GLOBAL] * len(outputs)
        elif func in _WINDOW_OPS:
            reaches = [_grown(reach, _WINDOW_OPS[func](args, kwargs, outputs[0]))] * len(outputs)
        else:
            source = next((tensor for tensor in sources if isinstance(self._reach[tensor], tuple)), sources[0])
            reaches = [_kept(reach, source, output) for output in outputs]
        for output, output_reach in zip(outputs, reaches):
            self._reach[output] = output_reach
        return out
