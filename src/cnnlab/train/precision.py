"""Device and numeric precision of a run: autocast contexts and the gradient scaler."""

import contextlib

import torch

from cnnlab.errors import CnnlabError


def pick_device(name: str) -> torch.device:
    """`auto` → CUDA, then MPS, then CPU; an unavailable device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise CnnlabError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return torch.device(name)


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """`auto` → bf16 on a CUDA device that supports it, else fp16 on CUDA; fp32 on CPU (bf16 is slower there)."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


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
