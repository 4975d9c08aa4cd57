"""The batcher: requests submitted together run as one batch, within max_batch, each getting its own result back;
requests that arrive while the engine is busy make up the next batch; a lone request waits at most max_wait, and
without a wait goes to a free engine at once."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.serve.batcher import Batcher


def doubled(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each request's rows times two."""
    return [request * 2 for request in batch]


def run_together(requests: list[torch.Tensor], max_batch: int, run=doubled, wait: float = 0.2) -> tuple[list, list[int]]:
    """Submit every request at once to a fresh batcher; return each answer (or error) and the batch sizes run."""
    sizes: list[int] = []

    def recorded(batch: list[torch.Tensor]) -> list:
        """Note the batch's size in images, then run it."""
        sizes.append(sum(len(request) for request in batch))
        return run(batch)

    async def main() -> list:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(recorded, executor, max_batch=max_batch, max_wait=wait)
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


def test_a_request_larger_than_max_batch_runs_alone():
    assert run_together([torch.ones(1, 1), torch.ones(5, 1), torch.ones(1, 1)], max_batch=4)[1] == [1, 5, 1]


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on():
    calls = []

    def run(batch: list[torch.Tensor]) -> list[torch.Tensor]:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("model broke")
        return batch

    answers, sizes = run_together([torch.ones(1, 1), torch.ones(1, 1), torch.ones(1, 1)], max_batch=2, run=run)
    assert sizes == [2, 1]
    assert all(isinstance(a, RuntimeError) for a in answers[:2]) and torch.equal(answers[2], torch.ones(1, 1))
    with pytest.raises(RuntimeError, match="model broke"):
        raise answers[0]


def test_a_request_refused_within_its_batch_gets_its_own_error_and_the_others_their_answers():
    def run(batch: list[torch.Tensor]) -> list:
        return [ValueError(f"bad {int(r[0, 0])}") if r[0, 0] == 1 else r for r in batch]

    answers, sizes = run_together([torch.full((1, 1), float(i)) for i in range(3)], max_batch=8, run=run)
    assert sizes == [3] and isinstance(answers[1], ValueError) and str(answers[1]) == "bad 1"
    assert torch.equal(answers[0], torch.zeros(1, 1)) and torch.equal(answers[2], torch.full((1, 1), 2.0))


def test_requests_arriving_while_the_engine_is_busy_make_up_the_next_batch_without_waiting_again():
    busy, sizes = threading.Event(), []

    def run(batch: list[torch.Tensor]) -> list[torch.Tensor]:
        sizes.append(len(batch))
        if len(sizes) == 1:
            busy.set()
            time.sleep(0.8)  # the engine busy with the first batch while the others arrive
        return batch

    async def main() -> float:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(run, executor, max_batch=8, max_wait=0.5)
            batcher.start()
            first = asyncio.ensure_future(batcher.submit(torch.ones(1, 1)))
            await asyncio.to_thread(busy.wait, 5)
            others = [asyncio.ensure_future(batcher.submit(torch.ones(1, 1))) for _ in range(5)]
            await first
            freed = time.perf_counter()
            await asyncio.gather(*others)
            waited = time.perf_counter() - freed
            await batcher.stop()
            return waited

    waited = asyncio.run(main())
    assert sizes == [1, 5]
    assert waited < 0.4  # their max_wait passed while the engine was busy: the next batch ran at once


def test_a_lone_request_waits_for_company_at_most_max_wait():
    async def main() -> float:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(doubled, executor, max_batch=8, max_wait=0.1)
            batcher.start()
            start = time.perf_counter()
            await batcher.submit(torch.ones(1, 1))
            took = time.perf_counter() - start
            await batcher.stop()
            return took

    assert 0.1 <= asyncio.run(main()) < 1.0


def test_without_a_wait_the_first_request_goes_to_a_free_engine_at_once_and_the_rest_follow_together():
    # a burst at max_wait 0: the engine takes the first alone rather than idling while the others are read
    answers, sizes = run_together([torch.ones(1, 1)] * 5, max_batch=32, wait=0.0)
    assert sizes == [1, 4] and all(torch.equal(a, torch.full((1, 1), 2.0)) for a in answers)


def test_requests_still_waiting_when_the_batcher_stops_are_refused_not_left_hanging():
    async def main() -> BaseException | None:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(doubled, executor, max_batch=8, max_wait=30.0)
            batcher.start()
            waiting = asyncio.ensure_future(batcher.submit(torch.ones(1, 1)))
            await asyncio.sleep(0.05)
            await batcher.stop()
            done, _ = await asyncio.wait([waiting], timeout=5)
            return waiting.exception() if done else None

    refused = asyncio.run(main())
    assert isinstance(refused, CnnlabError) and "stopped" in str(refused)
