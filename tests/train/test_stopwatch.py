"""The stopwatch counts the device's work: host time on a CPU, CUDA events (waiting for queued kernels) on a GPU."""

import time

import pytest
import torch

from cnnlab.train.stopwatch import Stopwatch


def test_cpu_stopwatch_counts_the_time_between_its_marks():
    clock = Stopwatch(torch.device("cpu")).start()
    time.sleep(0.05)
    first = clock.stop()
    time.sleep(0.05)
    assert 0.05 <= first < 1.0
    assert clock.stop() >= first + 0.05  # stop does not reset: it reads the time since start


def test_stop_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="before start"):
        Stopwatch(torch.device("cpu")).stop()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_stopwatch_waits_for_queued_kernels():
    torch.cuda.synchronize()
    clock = Stopwatch(torch.device("cuda")).start()
    host = time.perf_counter()
    torch.cuda._sleep(200_000_000)  # a kernel that spins ~0.1 s; the call itself returns at once
    queued = time.perf_counter() - host
    seconds = clock.stop()
    assert seconds > 0.02 and seconds > 5 * queued
    assert torch.cuda.current_stream().query()  # stop returned only after the queued kernel ended
