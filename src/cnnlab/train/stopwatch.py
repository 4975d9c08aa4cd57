"""Timing that waits for the device: CUDA events on a GPU, the performance counter (after a sync on MPS) elsewhere."""

import time

import torch


class Stopwatch:
    """Seconds from `start()` to `stop()` of the work queued on the device in between.

    On CUDA the two marks are events recorded in the current stream, so the span is the GPU's own and `stop`
    waits for the queued work to finish; on Apple's MPS each mark first waits for the queued work, and on a CPU work
    runs as it is called, so the host clock is exact.
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda, self.mps = device.type == "cuda", device.type == "mps"
        self.begin: torch.cuda.Event | float | None = None

    def start(self) -> "Stopwatch":
        """Mark the start (returns the stopwatch, so `Stopwatch(device).start()` reads as one step)."""
        self.begin = self.mark()
        return self

    def stop(self) -> float:
        """Seconds since `start`, after the work queued since then has finished."""
        if self.begin is None:
            raise RuntimeError("Stopwatch.stop() before start()")
        end = self.mark()
        if self.cuda:
            end.synchronize()
            return self.begin.elapsed_time(end) / 1000
        return end - self.begin

    def mark(self) -> "torch.cuda.Event | float":
        """A point in time: a recorded CUDA event, or the performance counter."""
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        if self.mps:
            torch.mps.synchronize()
        return time.perf_counter()
