"""Run the app under uvicorn: in the foreground (the CLI), or in a thread on a free loopback port (tests, bench)."""

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from cnnlab.errors import CnnlabError
from cnnlab.inference.exported import load_any
from cnnlab.serve.app import ENVIRONMENT, ServeOptions, create_app, environment_value


def run_server(source: str | Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          options: ServeOptions | None = None) -> None:
    """Serve a run or exported model until interrupted; several workers are separate processes, each with the model."""
    options = options or ServeOptions()
    if workers < 1:
        raise CnnlabError(f"`workers` must be at least 1, not {workers}")
    if workers == 1:
        uvicorn.run(create_app(source, options), host=host, port=port, log_level="info")
        return
    load_any(source)  # a bad path is one error here, not one per worker process
    os.environ[ENVIRONMENT] = environment_value(source, options)
    uvicorn.run("cnnlab.serve.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="info")


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", timeout: float = 30.0) -> Iterator[str]:
    """A real uvicorn serving `app` in a thread on a free port of `host`; yields its base URL, stops it after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
