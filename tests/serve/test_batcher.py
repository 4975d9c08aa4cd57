"""The batcher: requests submitted together run as one batch, within max_batch, each getting its own rows back."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from cnnlab.serve.batcher import Batcher


def run_together(requests: list[torch.Tensor], max_batch: int, run=lambda x: x * 2) -> tuple[list, list[int]]:
    """Submit every request at once to a fresh batcher; return each answer (or error) and the batch sizes run."""
    sizes: list[int] = []

    def recorded(batch: torch.Tensor) -> torch.Tensor:
        """Note the batch's size, then run it."""
        sizes.append(len(batch))
        return run(batch)

    async def main() -> list:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(recorded, executor, max_batch=max_batch, max_wait=0.2)
            batcher.start()
            answers = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
            await batcher.stop()
            assert batcher.batches == len(sizes) and batcher.largest == max(sizes)
            return answers

    return asyncio.run(main()), sizes


def test_requests_arriving_together_run_as_one_batch():
    requests = [torch.full((n, 2), float(i)) for i, n in enumerate([1, 3, 1, 2])]
    answers, sizes = run_together(requests, max_batch=32)
    assert sizes == [7]
    for request, answer in zip(requests, answers):
        assert torch.equal(answer, request * 2)


def test_batches_stop_at_max_batch_and_batching_off_runs_one_request_at_a_time():
    requests = [torch.full((1, 2), float(i)) for i in range(5)]
    assert run_together(requests, max_batch=2)[1] == [2, 2, 1]
    answers, sizes = run_together(requests, max_batch=1)
    assert sizes == [1, 1, 1, 1, 1] and [a[0, 0].item() for a in answers] == [0, 2, 4, 6, 8]


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on():
    calls = []

    def run(batch: torch.Tensor) -> torch.Tensor:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("model broke")
        return batch

    answers, sizes = run_together([torch.ones(1, 1), torch.ones(1, 1), torch.ones(1, 1)], max_batch=2, run=run)
    assert sizes == [2, 1]
    assert all(isinstance(a, RuntimeError) for a in answers[:2]) and torch.equal(answers[2], torch.ones(1, 1))
    with pytest.raises(RuntimeError, match="model broke"):
        raise answers[0]
