"""Show the working: the arithmetic behind one conv or pooling output, the size formula, course-style numbers."""

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.ops.conv import Padding, as_kernel, conv_geometry
from cnnlab.ops.im2col import Pair, as_float, as_pair, pad, taps
from cnnlab.ops.pool import pool_windows
from cnnlab.ops.shapes import conv_axis


def format_number(value: float, digits: int = 10) -> str:
    """A number as the course writes it: 7 not 7.0, 1.25, and float noise like 4.000000000000001 rounded away."""
    rounded = round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    if rounded.is_integer():
        return str(int(rounded))
    return f"{rounded:.{digits}g}"


def format_matrix(values: np.ndarray, width: int = 72) -> str:
    """Nested-list text like [[7,6,7],[4,5,6]] (pasteable back as `input`); one row a line when it is long."""
    array = np.asarray(values)
    if array.ndim == 0:
        return format_number(array)
    rows = [format_matrix(row, width) for row in array]
    text = "[" + ",".join(rows) + "]"
    if len(text) <= width or array.ndim == 1:
        return text
    return "[" + ",\n ".join(row.replace("\n", "\n ") for row in rows) + "]"


def _at(position: Pair, out: Pair) -> None:
    """Raise unless (row, col) lies inside an output of shape `out`."""
    (row, col), (ho, wo) = position, out
    if not (0 <= row < ho and 0 <= col < wo):
        raise CnnlabError(
            f"position ({row}, {col}) is outside the {ho}x{wo} output (rows 0..{ho - 1}, columns 0..{wo - 1})"
        )


def conv_terms(
    x: np.ndarray, w: np.ndarray, position: Pair, stride: int | Pair = 1, padding: Padding = 0, dilation: int | Pair = 1
) -> list[tuple[float, float]]:
    """The (input, kernel) pairs multiplied at output (row, col) of a 2-D matrix convolution, in reading order."""
    matrix = as_float(x)
    if matrix.ndim != 2:
        raise CnnlabError(f"the explanation works on a 2-D input matrix, got shape {matrix.shape}")
    kernel = as_kernel(w, 2)
    geo = conv_geometry((1, 1, *matrix.shape), kernel.shape, stride, padding, dilation, 1)
    _at(position, geo.out)
    (row, col), (kh, kw), (sh, sw), (dh, dw) = position, geo.kernel, geo.stride, geo.dilation
    xp = pad(matrix[None, None], geo.pad_h, geo.pad_w)[0, 0]
    window = xp[taps(row * sh, dh, kh), taps(col * sw, dw, kw)]
    return list(zip(window.ravel().tolist(), kernel[0, 0].ravel().tolist()))


def _factor(value: float) -> str:
    """A factor of a product, bracketed when negative: 2*(-1)."""
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text


def explain_conv(
    x: np.ndarray, w: np.ndarray, position: Pair, stride: int | Pair = 1, padding: Padding = 0, dilation: int | Pair = 1
) -> str:
    """The products summed at one output position: `1*1 + 2*0 + 3*1 + ... = 7` (bias not included)."""
    terms = conv_terms(x, w, position, stride, padding, dilation)
    products = " + ".join(f"{_factor(a)}*{_factor(b)}" for a, b in terms)
    return f"{products} = {format_number(sum(a * b for a, b in terms))}"


def pool_terms(
    x: np.ndarray,
    kernel: int | Pair,
    position: Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    mode: str = "max",
) -> list[float]:
    """The values in the pooling window behind output (row, col) of a 2-D matrix, padding included."""
    if np.ndim(x) != 2:
        raise CnnlabError(f"the explanation works on a 2-D input matrix, got shape {np.shape(x)}")
    fill = -np.inf if mode == "max" else 0.0
    windows, shape = pool_windows(x, kernel, stride, padding, fill)
    _at(position, shape)
    return windows[0, 0, :, position[0] * shape[1] + position[1]].tolist()


def explain_pool(
    x: np.ndarray,
    kernel: int | Pair,
    position: Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    mode: str = "max",
) -> str:
    """The window behind one pooled output: `max(1, 3, 0, 1) = 3` or `(1 + 3 + 0 + 1) / 4 = 1.25`."""
    if mode not in ("max", "avg"):
        raise CnnlabError(f"unknown pooling mode {mode!r}: use 'max' or 'avg'")
    values = pool_terms(x, kernel, position, stride, padding, mode)
    if mode == "max":
        return f"max({', '.join(format_number(v) for v in values)}) = {format_number(max(values))}"
    total = " + ".join(_factor(v) for v in values)
    return f"({total}) / {len(values)} = {format_number(sum(values) / len(values))}"


def explain_output_size(size: int, kernel: int, stride: int, pads: Pair, dilation: int, out: int) -> str:
    """The output-size formula with the numbers in: `floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1 = 112`."""
    before, after = pads
    padding = f"2*{before}" if before == after else f"{before} + {after}"
    return f"floor(({size} + {padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1 = {out}"


@dataclass(frozen=True)
class ShapeWorking:
    """A layer's output shape and, per spatial axis (H, W), its output-size formula with the numbers in."""

    output: tuple[int, ...]
    formulas: dict[str, str]


def layer_shape(
    shape: tuple[int, ...],
    kernel: int | Pair,
    stride: int | Pair = 1,
    padding: Padding = 0,
    dilation: int | Pair = 1,
    out_channels: int | None = None,
) -> ShapeWorking:
    """Output shape of a conv or pooling layer on an HxW, CxHxW or NxCxHxW input; out_channels replaces C."""
    if not 2 <= len(shape) <= 4:
        raise CnnlabError(f"expected an input shape HxW, CxHxW or NxCxHxW, got {len(shape)} dimensions")
    pads = (padding, padding) if isinstance(padding, str) else as_pair(padding, "padding")
    axes = zip(
        "HW", shape[-2:], as_pair(kernel, "kernel"), as_pair(stride, "stride"), pads, as_pair(dilation, "dilation")
    )
    spatial, formulas = [], {}
    for axis, size, k, s, p, d in axes:
        before, after, size_out = conv_axis(size, k, s, p, d)
        spatial.append(size_out)
        formulas[axis] = explain_output_size(size, k, s, (before, after), d, size_out)
    leading = shape[:-2]
    if out_channels is not None:
        leading = (*leading[:-1], out_channels) if len(shape) > 2 else (out_channels,)
    return ShapeWorking((*leading, *spatial), formulas)
