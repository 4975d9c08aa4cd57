"""One model in the server: its name and version, the engine that runs it, its batcher and the thread that hands it
batches while the server runs, its warm-up, and the PyTorch model Grad-CAM needs, loaded on demand when the engine is
another.

A batch is computed in one go (compute.py): in a process of the model's own by default (engine_process.py says why),
else in the thread itself. The event loop only parses the requests and answers them."""

import asyncio
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.models.packaged_weights import sha256
from cnnlab.run.checkpoint import checkpoint_path
from cnnlab.serve.batcher import Batcher
from cnnlab.serve.compute import Uploads, compute, warm_up
from cnnlab.serve.defaults import ENGINE, ENGINE_PROCESS
from cnnlab.serve.engine_process import EngineProcess
from cnnlab.serve.limits import UploadRefused
from cnnlab.serve.metrics import Metrics
from cnnlab.serve.threads import engine_threads

NAMED = re.compile(r"^([A-Za-z0-9_.-]{1,64})=(.+)$")  # NAME=PATH on the command line


def split_name(source: str | Path) -> tuple[str | None, str]:
    """(NAME, PATH) of "NAME=PATH", else (None, the source as given); a path that exists as given is never split."""
    text = str(source)
    match = NAMED.match(text)
    if match and not Path(text).exists():
        return match.group(1), match.group(2)
    return None, text


def model_version(loaded: LoadedModel) -> str:
    """What tells this model's weights from another's of the same run: the epoch the run recorded and the first 12
    hex digits of the weights' sha256 (an export records its checkpoint's; a zoo model: its weights' name)."""
    meta = loaded.meta
    digest = meta.get("weights_sha256")
    if digest is None and loaded.path.is_file():
        digest = sha256(loaded.path if loaded.exported else checkpoint_path(loaded.path))
    if digest is None:
        return str(loaded.record.weights or "untrained")
    epoch = meta.get("epoch")
    return f"{'e' + str(epoch) + '-' if epoch is not None else ''}{digest[:12]}"


class ServedModel:
    """A model as the server holds it; `load` (in the constructor) is timed into the metrics."""

    def __init__(self, source: str | Path, metrics: Metrics, engine: str = ENGINE, threads: int | None = None,
                 process: bool = ENGINE_PROCESS) -> None:
        """Load the model (named NAME=PATH, else after its run) through `engine` (see engine.py), computing with
        `threads` (None: see threads.py), in a process of its own when `process` says so."""
        from cnnlab.serve.engine import load_engine  # the engines' own imports wait until a model is served

        given, path = split_name(source)
        start = time.perf_counter()
        self.threads = engine_threads() if threads is None else threads
        self.loaded, self.engine, self.run = load_engine(path, engine, self.threads)
        self.load_seconds = time.perf_counter() - start
        self.source = path
        self.name = given or self.loaded.home.name
        self.version = model_version(self.loaded)
        self.metrics = metrics
        self.process = EngineProcess(path, engine, self.threads) if process else None
        self.executor: ThreadPoolExecutor | None = None
        self.batcher: Batcher | None = None
        self.warm = threading.Event()
        self._explained: LoadedModel | None = None
        self._explained_lock = threading.Lock()
        metrics.load_seconds.labels(self.name).set(self.load_seconds)
        metrics.model_info.labels(self.name, self.version, self.engine, self.loaded.record.architecture).set(1)

    @property
    def explainable(self) -> bool:
        """Whether Grad-CAM can explain its answers: a run's (its PyTorch model), whatever engine answers them."""
        return self.run is not None

    def start(self, max_batch: int, max_wait: float) -> None:
        """Its thread (one batch at a time) and batcher, on the running event loop."""
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"cnnlab-{self.name}")
        self.batcher = Batcher(self._run, self.executor, max_batch, max_wait)
        self.batcher.start()

    async def stop(self) -> None:
        """Stop the batcher, the thread and the model's process."""
        if self.batcher is not None:
            await self.batcher.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False)
        self.batcher = self.executor = None
        if self.process is not None:
            await asyncio.to_thread(self.process.stop)

    def warm_up(self, max_batch: int) -> None:
        """Warm the engine up for batches of up to `max_batch` (starting the model's process, which warms up its
        own), so that the first requests do not pay for its first-call allocations; then the model is ready."""
        start = time.perf_counter()
        if self.process is not None:
            self.process.start(max_batch)
        else:
            warm_up(self.loaded, max_batch)
        self.metrics.warmup_seconds.labels(self.name).set(time.perf_counter() - start)
        self.warm.set()

    def _run(self, requests: list[Uploads]) -> list[torch.Tensor | UploadRefused]:
        """Each request's probabilities or refusal (see compute.py), the batch's images counted."""
        results = self.process(requests) if self.process is not None else compute(self.loaded, requests)
        images = sum(len(result) for result in results if isinstance(result, torch.Tensor))
        if images:
            self.metrics.batch(self.name, images)
        return results

    async def predict(self, uploads: Uploads) -> torch.Tensor:
        """The probabilities of one request's files, decoded and run within a batch of other requests'; UploadRefused
        (413 or 400) when the limits or the decoder refuse one of its files."""
        if self.batcher is None:
            raise CnnlabError("the model is not running")
        return await self.batcher.submit(uploads)

    def explained(self) -> LoadedModel:
        """The PyTorch model of the run, for Grad-CAM: the one served when the engine is PyTorch, else loaded once,
        on the first request that asks."""
        if self.run is None:
            raise CnnlabError("Grad-CAM needs the run's PyTorch model: serve the run, not an exported model")
        if self.loaded.exported is None:
            return self.loaded
        with self._explained_lock:
            if self._explained is None:
                self._explained = load_model(self.run)
            return self._explained
