"""One model in the server: its name and version, the engine that runs it, its thread and batcher while the server
runs, its warm-up, and the PyTorch model Grad-CAM needs, loaded on demand when the engine is another.

A batch is decoded and run in the model's own thread, in one go: the uploads of every request in it decoded together
(see decode_many), then the engine on all their images. The event loop only parses the requests and answers them."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from cnnlab.data.decode import UnreadableImage, decode_many
from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.models.packaged_weights import sha256
from cnnlab.run.checkpoint import checkpoint_path
from cnnlab.serve.batcher import Batcher
from cnnlab.serve.limits import Limits, UploadRefused, check_upload
from cnnlab.serve.metrics import Metrics
from cnnlab.serve.threads import engine_threads

NAMED = re.compile(r"^([A-Za-z0-9_.-]{1,64})=(.+)$")  # NAME=PATH on the command line
WARMUP_BATCHES = 3


class Uploads:
    """One request's image files, as the batcher carries them to the model's thread: their names and bytes, and the
    limits they are checked against there."""

    def __init__(self, names: list[str], datas: list[bytes], limits: Limits) -> None:
        """The files, in the order they were sent."""
        self.names, self.datas, self.limits = names, datas, limits

    def refusals(self) -> list[UploadRefused | None]:
        """Why the server will not decode each file (empty, too large, too many pixels), or None for one it will."""
        refusals: list[UploadRefused | None] = []
        for name, data in zip(self.names, self.datas):
            try:
                check_upload(name, data, self.limits)
                refusals.append(None)
            except UploadRefused as refused:
                refusals.append(refused)
        return refusals

    def __len__(self) -> int:
        """How many images the request holds (what the batcher counts against max_batch)."""
        return len(self.datas)


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

    def __init__(self, source: str | Path, metrics: Metrics, engine: str = "auto",
                 threads: int | None = None) -> None:
        """Load the model (named NAME=PATH, else after its run) through `engine` (see engine.py), computing with
        `threads` (None: see threads.py)."""
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
        """Stop the batcher and the thread."""
        if self.batcher is not None:
            await self.batcher.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False)
        self.batcher = self.executor = None

    def warm_up(self, max_batch: int) -> None:
        """Run a few batches (one image, then a full batch) so that the first requests do not pay for the engine's
        first-call allocations; then the model is ready."""
        start = time.perf_counter()
        for size in (1, max_batch)[: 1 if max_batch == 1 else 2]:
            blank = torch.zeros((size, *self.loaded.input_shape), dtype=torch.uint8)
            for _ in range(WARMUP_BATCHES):
                self.loaded.logits(blank)
        self.metrics.warmup_seconds.labels(self.name).set(time.perf_counter() - start)
        self.warm.set()

    def _run(self, requests: list[Uploads]) -> list[tuple[torch.Tensor, torch.Tensor] | UploadRefused]:
        """Each request's (images, probabilities): the batch's files checked and decoded together, then run through
        the engine as one batch (counted). A request gets the refusal of its first file that the limits (a 413) or the
        decoder (a 400) refuse instead, and the others go on."""
        record = self.loaded.record
        checks = [request.refusals() for request in requests]
        wanted = [(name, data) for request, check in zip(requests, checks)
                  for name, data, refused in zip(request.names, request.datas, check) if refused is None]
        decoded = iter(decode_many([data for _, data in wanted], [name for name, _ in wanted],
                                   channels=record.in_chans, size=record.image_size))
        spans: list[slice | UploadRefused] = []
        good: list[torch.Tensor] = []
        for check in checks:
            mine = [refused if refused is not None else next(decoded) for refused in check]
            problem = next((outcome for outcome in mine if not isinstance(outcome, torch.Tensor)), None)
            if isinstance(problem, UnreadableImage):
                problem = UploadRefused(400, f"{problem.name}: {problem.reason}")
            if problem is not None:
                spans.append(problem)
                continue
            spans.append(slice(len(good), len(good) + len(mine)))
            good.extend(mine)
        if good:
            images = torch.stack(good)
            self.metrics.batch(self.name, len(images))
            probabilities = self.loaded.probabilities(self.loaded.logits(images))
        return [span if isinstance(span, UploadRefused) else (images[span], probabilities[span]) for span in spans]

    async def predict(self, uploads: Uploads) -> tuple[torch.Tensor, torch.Tensor]:
        """(the uint8 images, their probabilities) of one request's files, decoded and run within a batch of other
        requests'; UploadRefused (413 or 400) when the limits or the decoder refuse one of its files."""
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
