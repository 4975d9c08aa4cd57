"""A served model's batches computed in a process of its own, the server's default.

Why a process: in the server's own process the model's thread and the event loop share one interpreter lock, and
each stalls the other. Measured on 2 cores with SimpleCNN at 32x32 (ONNX Runtime, one thread, concurrency 16): the
model's thread spent 530 us of CPU per image against the 266 us that decoding and the engine cost alone, the event
loop 420 us per request against 265 us with no model to feed, and the two together kept 1.1 of the 2 cores busy.

The process loads the model as the server does (load_engine: the same export, reused while the weights are the same),
warms up, then computes each batch it is sent (compute.py) and sends back each request's probabilities or refusal.
It ignores SIGINT and SIGTERM: the server stops first, lets the requests in flight finish, then closes the pipe, which
ends the process. A process that dies is started again for the next batch; the batch it had is refused with a 503."""

import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

import numpy as np
import torch

from cnnlab.errors import CnnlabError, first_line
from cnnlab.serve.compute import Uploads, compute, warm_up
from cnnlab.serve.limits import UploadRefused

STOP_S = 10  # how long a process that was told to stop may take before it is killed

Packed = np.ndarray | tuple[int, str]  # a request's probabilities, or its refusal as (status, message)


def serve_batches(conn: Connection, source: str, engine: str, threads: int, max_batch: int) -> None:
    """The process: load, warm up, say so, then compute batches until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the server decides
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from cnnlab.serve.engine import load_engine

    try:
        loaded = load_engine(source, engine, threads)[0]
        warm_up(loaded, max_batch)
    except Exception as err:  # noqa: BLE001 (whatever stops the load is the server's to report)
        conn.send(("failed", f"{type(err).__name__}: {first_line(err)}"))
        return
    conn.send(("ready", ""))
    while True:
        try:
            requests = conn.recv()
        except EOFError:  # the server closed the pipe: stop
            return
        conn.send([pack(result) for result in compute(loaded, requests)])


def pack(result: torch.Tensor | UploadRefused) -> Packed:
    """A result as it crosses the pipe: numpy, not a torch tensor (which multiprocessing would put in shared
    memory, a file descriptor per tensor)."""
    return (result.status, str(result)) if isinstance(result, UploadRefused) else result.numpy()


def unpack(packed: Packed) -> torch.Tensor | UploadRefused:
    """A result as the server answers with it."""
    return UploadRefused(*packed) if isinstance(packed, tuple) else torch.from_numpy(packed)


class EngineProcess:
    """The process computing one model's batches; calling it computes a batch there (one at a time)."""

    def __init__(self, source: str, engine: str, threads: int) -> None:
        """Load `source` through `engine` on `threads` there."""
        self.source, self.engine, self.threads = str(source), engine, threads
        self.max_batch = 1  # what the process warms up for (start says)
        self.process: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.lock = threading.Lock()

    def start(self, max_batch: int) -> None:
        """Start the process (if it is not running) and wait until it has loaded the model and warmed up for batches
        of up to `max_batch`."""
        with self.lock:
            self.max_batch = max_batch
            if self.conn is None:
                self._start()

    def _start(self) -> None:
        # a fresh interpreter running this module (not multiprocessing's spawn, which imports the caller's __main__
        # again: a script, a notebook, stdin), talking over a socket pair
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen([sys.executable, "-m", __name__, str(theirs.fileno()), self.source, self.engine,
                                        str(self.threads), str(self.max_batch)], pass_fds=[theirs.fileno()])
        conn = Connection(ours.detach())
        try:
            state, detail = conn.recv()
        except EOFError:
            state, detail = "failed", f"the process ended (exit code {process.wait()})"
        if state != "ready":
            conn.close()
            process.wait()
            raise CnnlabError(f"the model's process could not load {self.source}: {detail}")
        self.process, self.conn = process, conn

    def __call__(self, requests: list[Uploads]) -> list[torch.Tensor | UploadRefused]:
        """Each request's probabilities or refusal; a 503 for each when the process died with the batch."""
        with self.lock:
            if self.conn is None:
                self._start()
            try:
                self.conn.send(requests)
                packed = self.conn.recv()
            except (EOFError, OSError):
                self._stop()
                return [UploadRefused(503, "the model's process stopped: try again")] * len(requests)
        return [unpack(result) for result in packed]

    def stop(self) -> None:
        """End the process: close its pipe, wait for it, kill it if it does not end."""
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.process is not None:
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.conn = self.process = None


if __name__ == "__main__":  # EngineProcess starts it: FD SOURCE ENGINE THREADS MAX_BATCH
    serve_batches(Connection(int(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
