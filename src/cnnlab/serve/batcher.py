"""Requests that arrive together, run as one batch: the first waits at most `max_wait` seconds for company."""

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

import torch

Run = Callable[[torch.Tensor], torch.Tensor]


class Batcher:
    """Collects image batches submitted concurrently and runs them through `run` together, in `executor`."""

    def __init__(self, run: Run, executor: Executor, max_batch: int = 32, max_wait: float = 0.005) -> None:
        """Batch up to `max_batch` images; wait at most `max_wait` seconds after the first before running."""
        self.run, self.executor = run, executor
        self.max_batch, self.max_wait = max_batch, max_wait
        self.queue: asyncio.Queue[tuple[torch.Tensor, asyncio.Future]] = asyncio.Queue()
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

    async def submit(self, images: torch.Tensor) -> torch.Tensor:
        """The outputs of `run` for these images (N, ...), computed within a batch of other requests."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((images, future))
        return await future

    async def _collect(self) -> list[tuple[torch.Tensor, asyncio.Future]]:
        """The next batch: the first waiting request, then others until max_batch images or max_wait seconds."""
        items = [await self.queue.get()]
        count = len(items[0][0])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while count < self.max_batch:
            if self.queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, 0.001))
                continue
            item = self.queue.get_nowait()
            items.append(item)
            count += len(item[0])
        return items

    async def _serve(self) -> None:
        """Run batch after batch; a failure goes to every request of its batch."""
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            batch = torch.cat([images for images, _ in items])
            self.batches, self.largest = self.batches + 1, max(self.largest, len(batch))
            try:
                outputs = await loop.run_in_executor(self.executor, self.run, batch)
            except Exception as err:  # the model's error belongs to the requests, not to this loop
                for _, future in items:
                    if not future.done():
                        future.set_exception(err)
                continue
            start = 0
            for images, future in items:
                if not future.done():
                    future.set_result(outputs[start : start + len(images)])
                start += len(images)
