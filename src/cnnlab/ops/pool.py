"""Pooling in NumPy: max, average and global average, each window taken from im2col's columns."""

from collections.abc import Callable

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.ops.im2col import Pair, as_batch, as_pair, from_batch, im2col, pad
from cnnlab.ops.shapes import output_size


def pool_windows(
    x: np.ndarray, kernel: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0, fill: float = 0.0
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Every pooling window of x as (N, C, kh*kw, H_out*W_out), padded with `fill`; also the output's shape.

    stride defaults to the kernel (windows side by side); padding may be at most half the kernel, as in torch.
    """
    x4, ndim = as_batch(x)
    kh, kw = as_pair(kernel, "kernel")
    sh, sw = as_pair(kernel if stride is None else stride, "stride")
    ph, pw = as_pair(padding, "padding")
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise CnnlabError(f"pooling kernel ({kh}, {kw}) and stride ({sh}, {sw}) must be at least 1, padding ({ph}, {pw}) "
                          "at least 0")
    if 2 * ph > kh or 2 * pw > kw:
        raise CnnlabError(f"pooling padding ({ph}, {pw}) must be at most half the kernel ({kh}, {kw})")
    ho, wo = output_size(x4.shape[2], kh, sh, ph), output_size(x4.shape[3], kw, sw, pw)
    n, c = x4.shape[:2]
    cols = im2col(pad(x4, (ph, ph), (pw, pw), fill), (kh, kw), (sh, sw))
    return cols.reshape(n, c, kh * kw, ho * wo), (n, c, ho, wo)[4 - ndim :]


def _pool(
    reduce: Callable[..., np.ndarray],
    fill: float,
    x: np.ndarray,
    kernel: int | Pair,
    stride: int | Pair | None,
    padding: int | Pair,
) -> np.ndarray:
    """Reduce each pooling window to one number."""
    windows, shape = pool_windows(x, kernel, stride, padding, fill)
    return reduce(windows, axis=2).reshape(shape)


def max_pool2d(
    x: np.ndarray, kernel: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> np.ndarray:
    """The largest value in each window; padding is -inf, so it never wins (as in torch)."""
    return _pool(np.max, -np.inf, x, kernel, stride, padding)


def avg_pool2d(
    x: np.ndarray, kernel: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> np.ndarray:
    """The mean of each window; padded zeros count in the divisor (torch's default count_include_pad=True)."""
    return _pool(np.mean, 0.0, x, kernel, stride, padding)


def global_avg_pool2d(x: np.ndarray) -> np.ndarray:
    """The mean of each whole feature map, kept as a 1x1 map (like torch's adaptive_avg_pool2d(x, 1))."""
    x4, ndim = as_batch(x)
    return from_batch(x4.mean(axis=(2, 3), keepdims=True), ndim)
