"""Device and numeric precision of a run: which dtype its steps run in (measured on the run's own model where the
CPU may gain), and the autocast context."""

import contextlib
import copy
import statistics
from collections.abc import Callable

import torch
from torch import nn

from cnnlab.errors import SettingError
from cnnlab.train.stopwatch import Stopwatch

ROUNDS = 5  # timed pairs of steps (one fp32, one bf16) that decide a CPU run's precision


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


def cpu_has_bf16_units() -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX tiles or AVX-512 BF16), as torch reports them."""
    checks = (getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return any(check() for check in checks if check is not None)


def pick_dtype(precision: str, device: torch.device, speedups: Callable[[], list[float]]) -> torch.dtype:
    """The dtype training steps run in. `auto`: on CUDA bf16 where supported, else fp16; on a CPU with bf16 matrix
    units bf16, unless `speedups()` (bf16 over fp32 in each timed round on the run's model) finds bf16 slower in every
    round; fp32 on other CPUs. `fastest`: on a CPU, bf16 when the median round finds it faster; elsewhere as auto.
    Explicit choices are kept. The capability decides and the timing can only veto it with every round against it,
    so a busy machine, which spoils some rounds, cannot talk a CPU with bf16 units out of them."""
    if precision in ("auto", "fastest") and device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "auto":
        keep = device.type == "cpu" and cpu_has_bf16_units() and max(speedups()) > 1.0
        return torch.bfloat16 if keep else torch.float32
    if precision == "fastest":
        return torch.bfloat16 if device.type == "cpu" and statistics.median(speedups()) > 1.0 else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def step_speedups(model: nn.Module, batch: tuple[int, ...], classes: int, device: torch.device,
                  channels_last: bool = True, rounds: int = ROUNDS) -> list[float]:
    """How many times faster a training step of this model (a copy: the run's weights, optimizer and random state are
    left as they were) on a batch of this shape runs under bf16 autocast than in fp32, once per round. Each round
    times both back to back, in alternating order, so a burst of other work on the machine spoils a round, not all.

    The steps run on one thread: when other processes keep the cores busy, threads that wait for each other at every
    parallel op stall on whichever was descheduled, and bf16's many short ops stall the most (measured under load:
    bf16 looked 0.4-0.9x as fast as fp32 on two threads, 2.2-2.4x on one, as it is on an idle machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return timed_rounds(model, batch, classes, device, channels_last, rounds)
    finally:
        torch.set_num_threads(threads)


def timed_rounds(model: nn.Module, batch: tuple[int, ...], classes: int, device: torch.device, channels_last: bool,
                 rounds: int) -> list[float]:
    """fp32 time / bf16 time of a training step of a copy of the model, per round (see step_speedups)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        twin = copy.deepcopy(model).train()
        layout = torch.channels_last if channels_last else torch.contiguous_format
        images = torch.randn(batch, device=device).contiguous(memory_format=layout)
        labels = torch.randint(0, classes, batch[:1], device=device)

        def step(dtype: torch.dtype) -> float:
            clock = Stopwatch(device).start()
            with autocast(device, dtype):
                loss = nn.functional.cross_entropy(twin(images).float(), labels)
            loss.backward()
            twin.zero_grad(set_to_none=True)
            return clock.stop()

        step(torch.float32), step(torch.bfloat16)  # each precision sets up its kernels once, untimed
        ratios = []
        for round_ in range(rounds):
            order = (torch.float32, torch.bfloat16) if round_ % 2 == 0 else (torch.bfloat16, torch.float32)
            times = {dtype: step(dtype) for dtype in order}
            ratios.append(times[torch.float32] / times[torch.bfloat16])
    return ratios


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
