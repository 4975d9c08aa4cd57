"""2-D convolution three ways (direct loops, im2col + GEMM, FFT) and its backward pass, in NumPy.

What CNNs call convolution is cross-correlation: the kernel slides over the input unflipped,
    y[n, o, r, c] = b[o] + sum_{ch, i, j} x_padded[n, ch, r*S + i*D, c*S + j*D] * w[o, ch, i, j]
(ch running over the input channels of o's group). The three methods compute exactly this.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.ops.im2col import Pair, as_batch, as_float, as_pair, col2im, from_batch, im2col, pad, taps, unpad
from cnnlab.ops.shapes import conv_axis

Padding = int | Pair | str


@dataclass(frozen=True)
class ConvGeometry:
    """Everything shape-related about one convolution: kernel, stride, dilation, padding per side, output, groups."""

    kernel: Pair
    stride: Pair
    dilation: Pair
    pad_h: Pair
    pad_w: Pair
    out: Pair
    groups: int


def conv_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: int | Pair,
    padding: Padding,
    dilation: int | Pair,
    groups: int,
) -> ConvGeometry:
    """Check an (N, C, H, W) input against an (C_out, C/groups, kh, kw) kernel and work out the geometry."""
    _, channels, h, w = x_shape
    out_channels, group_channels, kh, kw = w_shape
    _check_groups(channels, out_channels, group_channels, groups)
    sh, sw = as_pair(stride, "stride")
    dh, dw = as_pair(dilation, "dilation")
    ph, pw = (padding, padding) if isinstance(padding, str) else as_pair(padding, "padding")
    top, bottom, ho = conv_axis(h, kh, sh, ph, dh)
    left, right, wo = conv_axis(w, kw, sw, pw, dw)
    return ConvGeometry((kh, kw), (sh, sw), (dh, dw), (top, bottom), (left, right), (ho, wo), groups)


def _check_groups(channels: int, out_channels: int, group_channels: int, groups: int) -> None:
    """Raise if the input channels, kernel channels and groups do not fit together."""
    if groups < 1:
        raise CnnlabError(f"groups must be >= 1, got {groups}")
    if channels % groups or out_channels % groups:
        raise CnnlabError(
            f"groups={groups} must divide both the input channels ({channels}) and the output channels ({out_channels})"
        )
    if group_channels * groups != channels:
        raise CnnlabError(
            f"the kernel takes {group_channels} input channels per group "
            f"({group_channels * groups} with groups={groups}) but the input has {channels}"
        )


def as_kernel(w: np.ndarray, input_ndim: int) -> np.ndarray:
    """The kernel as (C_out, C/groups, kh, kw): a 2-D input takes a 2-D (kh, kw) kernel, batches a 4-D one."""
    kernel = as_float(w)
    if input_ndim == 2:
        if kernel.ndim != 2:
            raise CnnlabError(f"a 2-D input takes a 2-D (kh, kw) kernel, got shape {kernel.shape}")
        return kernel[None, None]
    if kernel.ndim != 4:
        raise CnnlabError(f"the kernel must be (C_out, C_in/groups, kh, kw), got shape {kernel.shape}")
    return kernel


def _direct(xp: np.ndarray, w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """The definition as loops: at each output position, multiply the window under the kernel by it and sum."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out
    out_channels, group_channels = w.shape[:2]
    group_out = out_channels // geo.groups
    y = np.zeros((xp.shape[0], out_channels, ho, wo), dtype=np.result_type(xp, w))
    for r in range(ho):
        for c in range(wo):
            window = xp[:, :, taps(r * sh, dh, kh), taps(c * sw, dw, kw)]  # (N, C, kh, kw)
            for g in range(geo.groups):
                ins = slice(g * group_channels, (g + 1) * group_channels)
                outs = slice(g * group_out, (g + 1) * group_out)
                y[:, outs, r, c] = np.einsum("nchw,ochw->no", window[:, ins], w[outs])
    return y


def _im2col_gemm(xp: np.ndarray, w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """Unfold the windows into columns, then one matrix product per group: (C_out/g, K) @ (K, H_out*W_out)."""
    n, groups = xp.shape[0], geo.groups
    cols = im2col(xp, geo.kernel, geo.stride, geo.dilation)  # (N, C*kh*kw, L)
    cols = cols.reshape(n, groups, -1, cols.shape[-1])  # (N, G, K, L) with K = C/G*kh*kw
    weights = w.reshape(groups, w.shape[0] // groups, -1)  # (G, C_out/G, K)
    return (weights @ cols).reshape(n, w.shape[0], *geo.out)


def _dilate(w: np.ndarray, dilation: Pair) -> np.ndarray:
    """Spread the kernel's taps `dilation` apart, with zeros between them."""
    (dh, dw), (kh, kw) = dilation, w.shape[-2:]
    spread = np.zeros((*w.shape[:-2], dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=w.dtype)
    spread[..., ::dh, ::dw] = w
    return spread


def _fft(xp: np.ndarray, w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """Convolution theorem: spectrum of input times spectrum of the flipped kernel, inverted, then crop and stride.

    Flipping the (dilated) kernel turns the true convolution the FFT computes into the cross-correlation CNNs use.
    The spectra's product is a circular convolution over the padded input's size; the positions kept (where the
    kernel lies wholly inside the input) never wrap around, so no further zero-padding is needed.
    """
    n, channels, hp, wp = xp.shape
    out_channels, groups = w.shape[0], geo.groups
    flipped = _dilate(w, geo.dilation)[:, :, ::-1, ::-1]
    span_h, span_w = flipped.shape[-2:]
    x_hat = np.fft.rfft2(xp, s=(hp, wp))
    k_hat = np.fft.rfft2(flipped, s=(hp, wp))
    x_hat = x_hat.reshape(n, groups, channels // groups, *x_hat.shape[-2:])
    k_hat = k_hat.reshape(groups, out_channels // groups, channels // groups, *k_hat.shape[-2:])
    y_hat = np.einsum("ngcuv,gocuv->ngouv", x_hat, k_hat)  # per frequency: sum over the group's channels
    full = np.fft.irfft2(y_hat, s=(hp, wp)).reshape(n, out_channels, hp, wp)
    (sh, sw), (ho, wo) = geo.stride, geo.out
    return full[:, :, taps(span_h - 1, sh, ho), taps(span_w - 1, sw, wo)].astype(np.result_type(xp, w))


METHODS: dict[str, Callable[[np.ndarray, np.ndarray, ConvGeometry], np.ndarray]] = {
    "direct": _direct,
    "im2col": _im2col_gemm,
    "fft": _fft,
}


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | float | None = None,
    stride: int | Pair = 1,
    padding: Padding = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
    method: str = "im2col",
) -> np.ndarray:
    """Cross-correlate x with w as torch.nn.functional.conv2d does; method is 'direct', 'im2col' or 'fft'.

    x is (N, C, H, W), (C, H, W) or a single matrix (H, W) (then w is a (kh, kw) matrix, else (C_out, C/groups,
    kh, kw)); b has C_out entries. stride, padding and dilation are ints or (h, w) pairs; padding may also be
    'valid' (none) or 'same' (output as big as the input; stride 1 only). CNN "convolution" does not flip the
    kernel, so this is cross-correlation: the 'fft' method flips it to use the convolution theorem.
    """
    if method not in METHODS:
        raise CnnlabError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    x4, ndim = as_batch(x)
    w4 = as_kernel(w, ndim)
    geo = conv_geometry(x4.shape, w4.shape, stride, padding, dilation, groups)
    y = METHODS[method](pad(x4, geo.pad_h, geo.pad_w), w4, geo)
    if b is not None:
        y = y + _as_bias(b, w4.shape[0])[:, None, None]
    return from_batch(y, ndim)


def _as_bias(b: np.ndarray | float, out_channels: int) -> np.ndarray:
    """The bias as a vector of one value per output channel."""
    bias = as_float(b).reshape(-1)
    if bias.shape != (out_channels,):
        raise CnnlabError(f"the bias needs {out_channels} values (one per output channel), got {bias.size}")
    return bias


def conv2d_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: int | Pair = 1,
    padding: Padding = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (grad_x, grad_w, grad_b) of a loss through conv2d, given the loss's gradient at the output.

    With columns X = im2col(x) and G = grad_out per group: grad_w = G @ X^T, grad_x = col2im(W^T @ G) and
    grad_b sums G over batch and positions. grad_b has one entry per output channel (one for a 2-D matrix).
    """
    x4, ndim = as_batch(x)
    w4 = as_kernel(w, ndim)
    geo = conv_geometry(x4.shape, w4.shape, stride, padding, dilation, groups)
    n, out_channels, groups = x4.shape[0], w4.shape[0], geo.groups
    expected = (n, out_channels, *geo.out)
    grad = as_float(grad_out)
    if grad.shape != expected[4 - ndim :]:
        raise CnnlabError(f"grad_out must have the output's shape {expected[4 - ndim :]}, got {grad.shape}")
    grad = grad.reshape(n, groups, out_channels // groups, -1)  # (N, G, C_out/G, L)
    xp = pad(x4, geo.pad_h, geo.pad_w)
    cols = im2col(xp, geo.kernel, geo.stride, geo.dilation)
    cols = cols.reshape(n, groups, -1, cols.shape[-1])  # (N, G, K, L)
    weights = w4.reshape(groups, out_channels // groups, -1)  # (G, C_out/G, K)
    grad_w = (grad @ cols.swapaxes(-1, -2)).sum(axis=0).reshape(w4.shape)
    grad_cols = (weights.swapaxes(-1, -2) @ grad).reshape(n, -1, cols.shape[-1])
    grad_xp = col2im(grad_cols, xp.shape, geo.kernel, geo.stride, geo.dilation)
    grad_x = unpad(grad_xp, geo.pad_h, geo.pad_w)
    grad_b = grad.sum(axis=(0, 3)).reshape(out_channels)
    return from_batch(grad_x, ndim), grad_w.reshape(np.shape(w)), grad_b
