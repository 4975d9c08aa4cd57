"""Output-size formulas of convolution and pooling layers."""

from cnnlab.errors import CnnlabError


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1, or an error if it is not positive."""
    if kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise CnnlabError(
            f"invalid layer: kernel={kernel}, stride={stride}, dilation={dilation} must be >= 1 and padding={padding} >= 0"
        )
    span = dilation * (kernel - 1) + 1
    padded = size + 2 * padding
    if span > padded:
        raise CnnlabError(
            f"kernel spans {span} pixels (kernel {kernel}, dilation {dilation}) but the padded input is only "
            f"{padded} ({size} + 2*{padding}): the output would be empty"
        )
    return (padded - span) // stride + 1


def conv_axis(
    size: int, kernel: int, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> tuple[int, int, int]:
    """(pad before, pad after, output size) on one axis; padding is an int, 'valid' or 'same'.

    'same' keeps the size, so it needs stride 1; an odd total goes one pixel more after than before, as in torch.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return conv_axis(size, kernel, stride, 0, dilation)
        if padding != "same":
            raise CnnlabError(f"unknown padding {padding!r}: use an int, 'same' or 'valid'")
        if stride != 1:
            raise CnnlabError(f"padding='same' needs stride 1 (as in torch), got stride {stride}")
        if kernel < 1 or dilation < 1:
            raise CnnlabError(f"invalid layer: kernel={kernel} and dilation={dilation} must be >= 1")
        total = dilation * (kernel - 1)
        return total // 2, total - total // 2, size
    return padding, padding, output_size(size, kernel, stride, padding, dilation)
