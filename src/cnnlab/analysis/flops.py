"""FLOPs of a forward pass: 2 x multiply-accumulates of every convolution and matrix product, counted as they run."""

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


def _convolution_flops(args: tuple, out: torch.Tensor) -> int:
    """Each output element of a convolution is one MAC per weight of its group; transposed ones scatter from the input."""
    weight, transposed = args[1], args[6]
    side = args[0] if transposed else out
    return 2 * side.shape[0] * weight.numel() * math.prod(side.shape[2:])


def _mm_flops(a: torch.Tensor, b: torch.Tensor) -> int:
    """(m x k) @ (k x n), batched over any leading dims: m*k*n MACs per matrix."""
    return 2 * math.prod(a.shape) * b.shape[-1]


_FLOPS: dict[Any, Callable[[tuple, torch.Tensor], int]] = {
    aten.convolution: _convolution_flops,
    aten._convolution: _convolution_flops,
    aten.mm: lambda args, out: _mm_flops(args[0], args[1]),
    aten.bmm: lambda args, out: _mm_flops(args[0], args[1]),
    aten.addmm: lambda args, out: _mm_flops(args[1], args[2]),
    aten.baddbmm: lambda args, out: _mm_flops(args[1], args[2]),
}


class FlopCounter(TorchDispatchMode):
    """Adds up the FLOPs of the aten convolutions and matrix products run under it (the ops FlopCounterMode counts)."""

    def __init__(self) -> None:
        """Start at zero."""
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        """Run the op, then add its FLOPs when it is a convolution or matrix product."""
        out = func(*args, **(kwargs or {}))
        count = _FLOPS.get(func.overloadpacket)
        if count is not None:
            self.total += count(args, out)
        return out
