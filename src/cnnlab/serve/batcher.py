"""Requests batched by arrival: those that arrive while the engine runs a batch make up the next one (up to
`max_batch` images), and when the engine is free a batch waits for company at most `max_wait` seconds after its
first request arrived. Nothing polls: an arrival or the deadline wakes the collector, and a batch crosses to the
engine's thread and back once, whatever number of requests it holds."""

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

# a batch of requests -> one result per request, or the exception that request gets (the others go on)
Run = Callable[[list[Any]], Sequence[Any]]


class Batcher:
    """Collects requests submitted concurrently and runs them through `run` together, in `executor`."""

    def __init__(self, run: Run, executor: Executor, max_batch: int = 32, max_wait: float = 0.005,
                 size: Callable[[Any], int] = len) -> None:
        """Batch up to `max_batch` images (`size` says a request's), waiting at most `max_wait` seconds for more."""
        self.run, self.executor, self.size = run, executor, size
        self.max_batch, self.max_wait = max_batch, max_wait
        self.waiting: deque[tuple[Any, int, float, asyncio.Future]] = deque()  # request, size, arrival, its answer
        self.arrived: asyncio.Future | None = None  # what the collector awaits while it waits for company
        self.task: asyncio.Task | None = None
        self.batches = 0  # how many batches have run, and the largest: for /health
        self.largest = 0

    def start(self) -> None:
        """Start the collecting task on the running event loop."""
        self.task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """Cancel the collecting task."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def submit(self, request: Any) -> Any:  # noqa: ANN401 (whatever `run` takes and gives)
        """The result of `run` for this request, computed within a batch of other requests."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append((request, self.size(request), loop.time(), future))
        self._wake()
        return await future

    def _wake(self) -> None:
        """Wake the collector if it waits."""
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)

    async def _until(self, deadline: float | None) -> None:
        """Until the next arrival, or the deadline (loop time) if there is one."""
        loop = asyncio.get_running_loop()
        self.arrived = loop.create_future()
        timer = loop.call_at(deadline, self._wake) if deadline is not None else None
        try:
            await self.arrived
        finally:
            self.arrived = None
            if timer is not None:
                timer.cancel()

    async def _collect(self) -> list[tuple[Any, asyncio.Future]]:
        """The next batch: every request waiting (the engine was busy while they came), or the first to come and
        those that arrive within max_wait of it; at most max_batch images, though never fewer than one request."""
        loop = asyncio.get_running_loop()
        while not self.waiting:
            await self._until(None)
        deadline = self.waiting[0][2] + self.max_wait
        while sum(size for _, size, _, _ in self.waiting) < self.max_batch and loop.time() < deadline:
            await self._until(deadline)
        batch, count = [], 0
        while self.waiting and (not batch or count + self.waiting[0][1] <= self.max_batch):
            request, size, _, future = self.waiting.popleft()
            if not future.done():  # else its client went away
                batch.append((request, future))
                count += size
        return batch

    async def _serve(self) -> None:
        """Run batch after batch; a failure of the whole batch goes to each of its requests."""
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            images = sum(self.size(request) for request, _ in batch)
            self.batches, self.largest = self.batches + 1, max(self.largest, images)
            try:
                results = await loop.run_in_executor(self.executor, self.run, [request for request, _ in batch])
            except Exception as err:  # the model's error belongs to the requests, not to this loop
                results = [err] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
