"""Device and numeric precision of a run: autocast contexts and the gradient scaler."""

import contextlib
import functools
import math

import torch

from cnnlab.errors import SettingError
from cnnlab.train.stopwatch import Stopwatch

FASTER = 1.2  # `fastest` trains in bf16 when a conv step runs at least this many times faster in it


def pick_device(name: str) -> torch.device:
    """`auto` → CUDA, then MPS, then CPU; an unavailable device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingError("device", "cuda: no CUDA device is available here (use cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SettingError("device", "mps: no Apple GPU (MPS) is available here (use cpu or auto)")
    return torch.device(name)


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """`auto` → bf16 on a CUDA device that supports it, else fp16 on CUDA; fp32 on CPU (where bf16 is slower
    unless the CPU has bf16 matrix units). `fastest` → on CPU, bf16 or fp32 by `bf16_speedup`; on CUDA as auto."""
    if precision == "fastest" and device.type == "cpu":
        return torch.bfloat16 if bf16_speedup(device) >= FASTER else torch.float32
    if precision in ("auto", "fastest"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@functools.cache
def bf16_speedup(device: torch.device, repeats: int = 5) -> float:
    """How many times faster a training step of a 3x3 conv layer (64 channels, 16x16, batch 64, channels_last)
    runs under bf16 autocast than in fp32 on this device: measured once per process (about 0.2 s on a CPU).

    The two precisions take turns and each keeps its fastest time, so a burst of other work on the machine
    slows one round of both rather than one precision."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device, memory_format=torch.channels_last)
    x = torch.randn(64, 64, 16, 16, device=device).contiguous(memory_format=torch.channels_last)
    best = {torch.float32: math.inf, torch.bfloat16: math.inf}
    for round_ in range(repeats + 1):  # round 0 sets up each precision's kernels and is not counted
        for dtype in best:
            clock = Stopwatch(device).start()
            with autocast(device, dtype):
                conv(x).float().square().mean().backward()
            if round_:
                best[dtype] = min(best[dtype], clock.stop())
    return best[torch.float32] / best[torch.bfloat16]


def flush_denormals() -> None:
    """Treat denormal floats as zero: trained CPU networks otherwise slow down 20-80%.

    Worker threads inherit the setting only when they start after it, so call it before the first parallel op.
    """
    torch.set_flush_denormal(True)


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed-precision autocast for reduced dtypes, a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
