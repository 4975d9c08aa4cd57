"""Device and numeric precision of a run: which dtype its steps run in (measured on the run's own model where the
CPU may gain), and the autocast context."""

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.errors import SettingError
from cnnlab.train.stopwatch import Stopwatch

ROUNDS = 5  # timed steps of each precision that decide a CPU run's precision


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


@dataclass(frozen=True)
class StepTimes:
    """Seconds per training step of a model in fp32 and under bf16 autocast, one of each per timed round."""

    fp32: list[float]
    bf16: list[float]

    @property
    def speedup(self) -> float:
        """How many times faster bf16 runs: fp32's fastest step over bf16's. Other work on the machine only ever adds
        time to a step, so each precision's fastest is the one it disturbed least (a ratio per round, or their median,
        swings with whichever step of the pair a burst hit: 0.8-3.6x for one model in one busy minute)."""
        return min(self.fp32) / min(self.bf16)

    def rounds(self) -> list[float]:
        """fp32 time / bf16 time in each round."""
        return [f / b for f, b in zip(self.fp32, self.bf16)]


def pick_dtype(precision: str, device: torch.device, speedup: Callable[[], float]) -> torch.dtype:
    """The dtype training steps run in. `auto`: on CUDA bf16 where supported, else fp16; on a CPU with bf16 matrix
    units bf16 when `speedup()` (see StepTimes.speedup, timed on the run's own model) finds it faster; fp32 on other
    CPUs, untimed. `fastest`: as auto, but timed on any CPU. Explicit choices are kept.

    Timed, not taken from the capability: the units do not make every network faster (EfficientNet-Lite0 at 160 px
    ran 1.7x in bf16 on a CPU with AMX, 0.7-0.8x on one with AVX-512 BF16 alone)."""
    if precision in ("auto", "fastest"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        timed = device.type == "cpu" and (precision == "fastest" or cpu_has_bf16_units())
        return torch.bfloat16 if timed and speedup() > 1.0 else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def step_times(model: nn.Module, batch: tuple[int, ...], classes: int, device: torch.device,
               channels_last: bool = True, rounds: int = ROUNDS) -> StepTimes:
    """A training step of this model (a copy: the run's weights, optimizer and random state are left as they were)
    on a batch of this shape, timed in fp32 and under bf16 autocast, back to back in alternating order, `rounds`
    times each.

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
                 rounds: int) -> StepTimes:
    """The step times of a copy of the model (see step_times)."""
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
        times: dict[torch.dtype, list[float]] = {torch.float32: [], torch.bfloat16: []}
        for round_ in range(rounds):
            for dtype in (torch.float32, torch.bfloat16) if round_ % 2 == 0 else (torch.bfloat16, torch.float32):
                times[dtype].append(step(dtype))
    return StepTimes(times[torch.float32], times[torch.bfloat16])


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
