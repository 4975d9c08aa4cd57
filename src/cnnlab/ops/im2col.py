"""Sliding windows over image batches: im2col unfolds them into columns, col2im folds columns back.

Also the small helpers every op shares: reading int-or-pair arguments, and viewing an input as an
(N, C, H, W) batch and back.
"""

import operator

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.ops.shapes import output_size

Pair = tuple[int, int]


def as_pair(value: int | Pair, name: str) -> Pair:
    """(h, w) from an int (used for both) or a pair of ints; anything else is a CnnlabError."""
    items = (value, value) if np.ndim(value) == 0 else tuple(value)
    try:
        if len(items) != 2:
            raise TypeError
        return operator.index(items[0]), operator.index(items[1])
    except TypeError:
        raise CnnlabError(f"{name} must be an int or a pair of ints, got {value!r}") from None


def as_float(x: np.ndarray) -> np.ndarray:
    """x as a NumPy array of floats (ints become float64; float32 stays float32)."""
    array = np.asarray(x)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def as_batch(x: np.ndarray, name: str = "input") -> tuple[np.ndarray, int]:
    """View an (H, W), (C, H, W) or (N, C, H, W) array as (N, C, H, W); also return its ndim to undo the view."""
    array = as_float(x)
    if array.ndim not in (2, 3, 4):
        raise CnnlabError(f"{name} must be (H, W), (C, H, W) or (N, C, H, W), got shape {array.shape}")
    return array.reshape((1,) * (4 - array.ndim) + array.shape), array.ndim


def from_batch(y: np.ndarray, ndim: int) -> np.ndarray:
    """Undo as_batch: drop the batch (and channel) axes it added to an ndim-dimensional input."""
    return y.reshape(y.shape[4 - ndim :])


def pad(x: np.ndarray, pad_h: Pair, pad_w: Pair, value: float = 0.0) -> np.ndarray:
    """Pad an (N, C, H, W) batch by (top, bottom) rows and (left, right) columns of `value`."""
    return np.pad(x, ((0, 0), (0, 0), pad_h, pad_w), constant_values=value)


def unpad(x: np.ndarray, pad_h: Pair, pad_w: Pair) -> np.ndarray:
    """Cut the padding added by `pad` off an (N, C, H, W) batch."""
    (top, bottom), (left, right) = pad_h, pad_w
    return x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right]


def taps(offset: int, step: int, count: int) -> slice:
    """The indices offset, offset+step, ... (count of them): where one kernel tap lands across the outputs."""
    return slice(offset, offset + step * (count - 1) + 1, step)


def im2col(xp: np.ndarray, kernel: Pair, stride: Pair = (1, 1), dilation: Pair = (1, 1)) -> np.ndarray:
    """Unfold every window of a padded (N, C, H, W) batch into a column: (N, C*kh*kw, H_out*W_out).

    Rows are ordered (channel, kernel row, kernel column), like w.reshape(C_out, -1), so a convolution
    becomes one matrix product. The loop runs over kernel taps, not over output positions.
    """
    n, c, hp, wp = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = output_size(hp, kh, sh, 0, dh), output_size(wp, kw, sw, 0, dw)
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, taps(i * dh, sh, ho), taps(j * dw, sw, wo)]
    return cols.reshape(n, c * kh * kw, ho * wo)


def col2im(
    cols: np.ndarray, padded_shape: tuple[int, ...], kernel: Pair, stride: Pair = (1, 1), dilation: Pair = (1, 1)
) -> np.ndarray:
    """Fold columns back into a padded (N, C, H, W) batch, summing where windows overlap (the adjoint of im2col)."""
    n, c, hp, wp = padded_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = output_size(hp, kh, sh, 0, dh), output_size(wp, kw, sw, 0, dw)
    cols = cols.reshape(n, c, kh, kw, ho, wo)
    xp = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, taps(i * dh, sh, ho), taps(j * dw, sw, wo)] += cols[:, :, i, j]
    return xp
