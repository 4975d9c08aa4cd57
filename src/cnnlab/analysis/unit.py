"""One unit of one feature map, explained: where it looks in the input (its theoretical receptive field) and the
arithmetic of its value with the model's own weights, in the steps the course works through (section 2's input
patch x kernel per channel, the sum, the bias; then BatchNorm and the activation; for pooling, the window and its
max or mean). The conv and pooling arithmetic is ops/explain.py's, on the real numbers."""

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnlab.analysis.field_tracker import Reach
from cnnlab.analysis.trace import INPUT, LayerRun, Trace
from cnnlab.errors import CnnlabError
from cnnlab.ops.explain import conv_terms, pool_terms

ACTIVATIONS = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu", nn.SiLU: "silu", nn.GELU: "gelu",
               nn.Sigmoid: "sigmoid", nn.Hardswish: "hardswish", nn.Tanh: "tanh"}
DETAILED_CHANNELS = 16  # input channels shown with their patch and kernel; the others by their sums only


def field_box(reach: Reach | None, row: int, col: int, height: int, width: int) -> dict[str, Any]:
    """The input pixels unit (row, col) sees, from its layer's receptive field: the box [top, bottom) x [left, right)
    clipped to the image, the unclipped one, and the field's size and stride; the whole image for a global field."""
    if not isinstance(reach, tuple) or len(reach) != 2:
        whole = {"top": 0, "left": 0, "bottom": height, "right": width}
        return {"kind": reach if isinstance(reach, str) else "unknown", "box": whole, "unclipped": whole}
    (fh, fw) = reach
    unclipped = {}
    for (low, high), field, index in ((("top", "bottom"), fh, row), (("left", "right"), fw, col)):
        centre = field.start + index * field.jump
        unclipped[low], unclipped[high] = centre - field.size / 2, centre + field.size / 2
    box = {key: min(max(value, 0), height if key in ("top", "bottom") else width) for key, value in unclipped.items()}
    box = {key: math.floor(v) if key in ("top", "left") else math.ceil(v) for key, v in box.items()}
    return {"kind": "local", "box": box, "unclipped": unclipped, "size": [fh.size, fw.size],
            "stride": [fh.jump, fw.jump]}


def _check_unit(run: LayerRun, channel: int, row: int, col: int) -> None:
    """Raise unless the run gives feature maps and (channel, row, col) lies inside them."""
    if not run.spatial:
        raise CnnlabError(f"layer {run.index} ({run.name}) gives no feature maps to pick a unit from")
    channels, height, width = run.output.shape[1:]
    if not (0 <= channel < channels and 0 <= row < height and 0 <= col < width):
        raise CnnlabError(f"unit ({channel}, {row}, {col}) is outside layer {run.index}'s {channels}x{height}x{width} "
                          "output")


def _value(tensor: torch.Tensor, channel: int, row: int, col: int) -> float:
    """One value of a (1, C, H, W) tensor."""
    return float(tensor[0, channel, row, col])


def conv_step(run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """A conv unit: per input channel the patch under the kernel, the kernel, their products' sum; then the bias."""
    conv: nn.Conv2d = run.module
    if conv.padding_mode != "zeros":
        raise CnnlabError(f"{run.name} pads with {conv.padding_mode!r}: only zero padding is explained")
    x = run.input[0].double().numpy()
    weight = conv.weight.detach().double().numpy()
    per_group_in, per_group_out = weight.shape[1], conv.out_channels // conv.groups
    first = (channel // per_group_out) * per_group_in
    kh, kw = weight.shape[2:]
    geometry = {"stride": conv.stride, "padding": conv.padding, "dilation": conv.dilation}
    channels = []
    for offset in range(per_group_in):
        terms = np.array(conv_terms(x[first + offset], weight[channel, offset], (row, col), **geometry))
        channels.append({"channel": first + offset, "patch": terms[:, 0].reshape(kh, kw).tolist(),
                         "kernel": terms[:, 1].reshape(kh, kw).tolist(), "sum": float(terms.prod(1).sum())})
    total = sum(item["sum"] for item in channels)
    bias = float(conv.bias[channel]) if conv.bias is not None else None
    shown = sorted(range(len(channels)), key=lambda i: -abs(channels[i]["sum"]))[:DETAILED_CHANNELS]
    for index, item in enumerate(channels):
        if index not in shown:
            del item["patch"], item["kernel"]
    return {"kind": "conv", "layer": run.index, "name": run.name, "kernel": [kh, kw], "stride": list(conv.stride),
            "padding": list(conv.padding) if not isinstance(conv.padding, str) else conv.padding,
            "dilation": list(conv.dilation), "groups": conv.groups, "channels": channels, "sum": total, "bias": bias,
            "computed": total + (bias or 0.0), "value": _value(run.output, channel, row, col)}


def _pool_geometry(run: LayerRun, row: int, col: int) -> tuple[Any, Any, Any, tuple[int, int]]:
    """(kernel, stride, padding, position) of the window behind (row, col); adaptive pooling's window is picked out of
    the input as the one plain window at that place."""
    module = run.module
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        (size_h, size_w), (out_h, out_w) = run.input.shape[2:], run.output.shape[2:]
        top, bottom = row * size_h // out_h, -(-(row + 1) * size_h // out_h)
        left, right = col * size_w // out_w, -(-(col + 1) * size_w // out_w)
        return (bottom - top, right - left), 1, 0, (top, left)
    if getattr(module, "ceil_mode", False) or getattr(module, "dilation", 1) not in (1, (1, 1)):
        raise CnnlabError(f"{run.name}: pooling with ceil_mode or dilation is not explained")
    return module.kernel_size, module.stride, module.padding, (row, col)


def pool_step(run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """A pooling unit: the window of its input channel and its max or mean."""
    mode = "max" if isinstance(run.module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "avg"
    if mode == "avg" and not getattr(run.module, "count_include_pad", True):
        raise CnnlabError(f"{run.name}: average pooling that leaves padding out of the count is not explained")
    kernel, stride, padding, position = _pool_geometry(run, row, col)
    window = pool_terms(run.input[0, channel].double().numpy(), kernel, position, stride, padding, mode)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    computed = max(window) if mode == "max" else sum(window) / len(window)
    return {"kind": f"{mode}pool", "layer": run.index, "name": run.name, "kernel": [kh, kw],
            "window": np.array(window).reshape(kh, kw).tolist(), "computed": computed,
            "value": _value(run.output, channel, row, col)}


def batchnorm_step(run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """A BatchNorm unit: (x - running mean) / sqrt(running var + eps) * weight + bias."""
    bn: nn.BatchNorm2d = run.module
    if bn.running_mean is None:
        raise CnnlabError(f"{run.name} keeps no running statistics: its value depends on the batch")
    x = _value(run.input, channel, row, col)
    mean, var = float(bn.running_mean[channel]), float(bn.running_var[channel])
    gamma = float(bn.weight[channel]) if bn.weight is not None else 1.0
    beta = float(bn.bias[channel]) if bn.bias is not None else 0.0
    return {"kind": "batchnorm", "layer": run.index, "name": run.name, "input": x, "mean": mean, "var": var,
            "eps": bn.eps, "weight": gamma, "bias": beta, "computed": (x - mean) / math.sqrt(var + bn.eps) * gamma + beta,
            "value": _value(run.output, channel, row, col)}


def activation_step(run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """An activation unit: the function of its input value (ReLU: max(0, x)), computed again in float64."""
    x = _value(run.input, channel, row, col)
    computed = float(run.module(torch.tensor([x], dtype=torch.float64)))
    return {"kind": "activation", "function": ACTIVATIONS[type(run.module)], "layer": run.index, "name": run.name,
            "input": x, "computed": computed, "value": _value(run.output, channel, row, col)}


def elementwise_step(run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """A layer without a worked example here (Identity, Dropout, SE gates...): its input and its output value."""
    return {"kind": "other", "type": run.type, "layer": run.index, "name": run.name,
            "input": _value(run.input, channel, row, col) if run.input is not None and run.input.dim() == 4 else None,
            "value": _value(run.output, channel, row, col)}


def step(run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """The arithmetic of one unit of one layer run, by the kind of layer."""
    module = run.module
    if isinstance(module, nn.Conv2d):
        return conv_step(run, channel, row, col)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return pool_step(run, channel, row, col)
    if isinstance(module, nn.BatchNorm2d):
        return batchnorm_step(run, channel, row, col)
    if type(module) in ACTIVATIONS:
        return activation_step(run, channel, row, col)
    return elementwise_step(run, channel, row, col)


def _same_place(run: LayerRun, other: LayerRun) -> bool:
    """Whether `other` gives maps of the same shape as `run` takes, so one unit of it feeds the same unit of `run`."""
    return other.spatial and run.input is not None and tuple(other.output.shape) == tuple(run.input.shape)


def chain(trace: Trace, index: int) -> list[LayerRun]:
    """The runs behind a unit of run `index`, in order: back through the element-wise layers (BatchNorm, activation)
    to the conv or pooling that made its value, and, for a conv or pooling, on through the element-wise layers that
    take it (conv -> BN -> ReLU, as the course draws one layer)."""
    runs = [trace.run(index)]
    while _elementwise(runs[0]) and runs[0].producer not in (None, INPUT):
        producer = trace.run(runs[0].producer)
        if not _same_place(runs[0], producer):
            break
        runs.insert(0, producer)
        if not _elementwise(producer):
            break
    while True:
        following = [run for run in trace.consumers(runs[-1].index) if _elementwise(run) and _same_place(run, runs[-1])]
        if len(following) != 1:
            return runs
        runs.append(following[0])


def _elementwise(run: LayerRun) -> bool:
    """Whether a layer maps each unit on its own (BatchNorm, activations, Identity, Dropout)."""
    return isinstance(run.module, (nn.BatchNorm2d, nn.Identity, nn.Dropout, *ACTIVATIONS)) and run.spatial


def residual_step(trace: Trace, run: LayerRun, channel: int, row: int, col: int) -> dict[str, Any]:
    """What a layer fed by an op outside modules took: in a residual block, the residual path's last layer plus the
    shortcut (its layers' output, or the block's input for an identity shortcut)."""
    inside = [other for other in trace.runs[: run.index] if other.block == run.block and other.block]
    path = [other for other in inside if not other.on_shortcut and _same_place(run, other)]
    shortcut = [other for other in inside if other.on_shortcut]
    terms = []
    if path:
        terms.append({"from": path[-1].name, "value": _value(path[-1].output, channel, row, col)})
        if shortcut and _same_place(run, shortcut[-1]):
            terms.append({"from": shortcut[-1].name, "value": _value(shortcut[-1].output, channel, row, col)})
        elif not shortcut and inside[0].input is not None and tuple(inside[0].input.shape) == tuple(run.input.shape):
            terms.append({"from": f"{run.block} input (identity shortcut)",
                          "value": _value(inside[0].input, channel, row, col)})
    return {"kind": "sum", "name": run.block, "terms": terms if len(terms) == 2 else [],
            "value": _value(run.input, channel, row, col)}


@torch.no_grad()
def explain_unit(trace: Trace, reach: Reach | None, index: int, channel: int, row: int, col: int) -> dict[str, Any]:
    """Everything the explainer shows for one unit: its value as PyTorch computed it, its receptive-field box on
    the input and the arithmetic of the layers that make it (see `chain`)."""
    run = trace.run(index)
    _check_unit(run, channel, row, col)
    height, width = trace.image.shape[2:]
    runs = chain(trace, index)
    steps = [step(other, channel, row, col) for other in runs]
    if runs[0].producer is None and runs[0].input is not None:
        steps.insert(0, residual_step(trace, runs[0], channel, row, col))
    return {"layer": index, "name": run.name, "type": run.type, "channel": channel, "row": row, "col": col,
            "value": _value(run.output, channel, row, col), "field": field_box(reach, row, col, height, width),
            "steps": steps}
