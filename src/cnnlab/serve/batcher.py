"""Requests batched by arrival, as Triton's dynamic batcher does it: when the engine is free, the requests waiting
go to it at once (up to `max_batch` images); those that arrive while it runs make up the next batch. A lone request
may wait for company, at most `max_wait` seconds after it arrived (0, the default, does not wait).

Not waiting is what keeps the event loop and the engine working side by side: when the engine takes the first of a
burst of requests alone, the rest are parsed while it runs, and the batches settle at the size the two can keep up
with. Waiting for a full batch instead made them take turns (measured at concurrency 16: the engine idle while the
loop read sixteen requests, the loop idle while the engine ran them). Nothing polls, and nothing runs between an
arrival and its batch: the batch is started from `submit` itself, or from the previous batch's end, or from the
timer of a request that waits."""

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.serve.defaults import MAX_BATCH, MAX_WAIT_MS

# a batch of requests -> one result per request, or the exception that request gets (the others go on)
Run = Callable[[list[Any]], Sequence[Any]]


class Batcher:
    """Collects requests submitted concurrently and runs them through `run` together, in `executor`."""

    def __init__(self, run: Run, executor: Executor, max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT_MS / 1000,
                 size: Callable[[Any], int] = len) -> None:
        """Batch up to `max_batch` images (`size` says a request's), a lone one waiting at most `max_wait` seconds."""
        self.run, self.executor, self.size = run, executor, size
        self.max_batch, self.max_wait = max_batch, max_wait
        self.waiting: deque[tuple[Any, int, float, asyncio.Future]] = deque()  # request, size, arrival, its answer
        self.loop: asyncio.AbstractEventLoop | None = None
        self.running = False  # whether the engine has a batch
        self.timer: asyncio.TimerHandle | None = None  # the wait of the first request waiting, when it waits
        self.batches = 0  # how many batches have run, and the largest: for /health
        self.largest = 0

    def start(self) -> None:
        """Take requests on the running event loop."""
        self.loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """Take no more requests; those still waiting for the engine are refused."""
        self.loop = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        while self.waiting:
            future = self.waiting.popleft()[3]
            if not future.done():
                future.set_exception(CnnlabError("the model was stopped before it could answer"))

    async def submit(self, request: Any) -> Any:  # noqa: ANN401 (whatever `run` takes and gives)
        """The result of `run` for this request, computed within a batch of other requests."""
        if self.loop is None:
            raise CnnlabError("the model is not running")
        future = self.loop.create_future()
        self.waiting.append((request, self.size(request), self.loop.time(), future))
        self._next()
        return await future

    def _next(self) -> None:
        """Start the next batch if the engine is free and one is due: max_batch images wait, or the first waiting
        has waited max_wait; else make sure the first one's wait will end."""
        if self.running or not self.waiting or self.loop is None:
            return
        due = self.waiting[0][2] + self.max_wait
        if self.loop.time() < due and sum(size for _, size, _, _ in self.waiting) < self.max_batch:
            if self.timer is None:
                self.timer = self.loop.call_at(due, self._waited)
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, count = [], 0
        while self.waiting and (not batch or count + self.waiting[0][1] <= self.max_batch):
            request, size, _, future = self.waiting.popleft()
            if not future.done():  # else its client went away
                batch.append((request, future))
                count += size
        if not batch:  # every one of them went away
            return
        self.running = True
        self.batches, self.largest = self.batches + 1, max(self.largest, count)
        ran = self.loop.run_in_executor(self.executor, self.run, [request for request, _ in batch])
        ran.add_done_callback(lambda outcome: self._answer(batch, outcome))

    def _waited(self) -> None:
        """The first request's wait is over."""
        self.timer = None
        self._next()

    def _answer(self, batch: list[tuple[Any, asyncio.Future]], outcome: asyncio.Future) -> None:
        """Give each request of a batch its result (a failure of the whole batch to each), then start the next."""
        self.running = False
        if outcome.cancelled():
            results: Sequence[Any] = [CnnlabError("the batch was cancelled")] * len(batch)
        elif outcome.exception() is not None:  # the model's error belongs to the requests, not to this loop
            results = [outcome.exception()] * len(batch)
        else:
            results = outcome.result()
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._next()
