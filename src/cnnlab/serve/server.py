"""Run the app under uvicorn: in the foreground (the CLI), or in a thread on a free loopback port (tests, bench)."""

import copy
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from cnnlab.errors import SettingError
from cnnlab.serve.app import ENVIRONMENT, ServeOptions, create_app, environment_value
from cnnlab.serve.defaults import HOST, PORT, WORKERS
from cnnlab.serve.limits import whole_number

MAX_PORT = 65535
# How long an idle keep-alive connection stays open: longer than clients keep theirs (httpx 5 s, aiohttp 15 s), so a
# client never sends on a connection the server is closing at that moment (uvicorn's 5 s races httpx's 5 s: a reset)
KEEP_ALIVE_S = 30
# On SIGTERM (or Ctrl-C) uvicorn stops accepting, lets the requests in flight finish, then stops the models; a request
# still running after this long is cut off (a second signal cuts at once)
GRACEFUL_S = 30


def log_config() -> dict:
    """uvicorn's logging, with the request id on every line (see observed.py) and cnnlab's access log instead of
    uvicorn's (which cannot name the id)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"request_id": {"()": "cnnlab.serve.observed.RequestIdFilter"}}
    config["formatters"]["cnnlab"] = {"()": "uvicorn.logging.DefaultFormatter",
                                      "fmt": "%(levelprefix)s [%(request_id)s] %(message)s", "use_colors": None}
    config["handlers"]["cnnlab"] = {"formatter": "cnnlab", "class": "logging.StreamHandler",
                                    "stream": "ext://sys.stderr", "filters": ["request_id"]}
    config["loggers"]["cnnlab.serve"] = {"handlers": ["cnnlab"], "level": "INFO", "propagate": False}
    return config


def run_server(sources: str | Path | list[str | Path], host: str = HOST, port: int = PORT, workers: int = WORKERS,
               options: ServeOptions | None = None) -> None:
    """Serve runs or exported models until interrupted (SIGTERM drains the requests in flight first); several
    workers are separate processes, each with the models.

    `port` 0 takes any free port (uvicorn's log says which).
    """
    check_address(host, port, workers)
    options = options or ServeOptions()
    served = dict(host=host, port=port, log_config=log_config(), access_log=False, timeout_keep_alive=KEEP_ALIVE_S,
                  timeout_graceful_shutdown=GRACEFUL_S)
    app = create_app(sources, options)  # in this process too: a bad path is one error here, not one per worker
    if workers == 1:
        uvicorn.run(app, **served)
        return
    os.environ[ENVIRONMENT] = environment_value(sources, options)
    uvicorn.run("cnnlab.serve.app:app_from_environment", factory=True, workers=workers, **served)


def check_address(host: str, port: int, workers: int) -> None:
    """Refuse a host that is not a name, a port outside 0..65535 (0: any free one) and fewer than one worker."""
    if not isinstance(host, str) or not host.strip():
        raise SettingError("host", f"must be an address or a host name, got {host!r}")
    whole_number("port", port, -math.inf)
    if not 0 <= port <= MAX_PORT:
        raise SettingError("port", f"must be between 0 (any free port) and {MAX_PORT}, got {port}")
    whole_number("workers", workers, 1)


@contextmanager
def running(app: FastAPI, host: str = HOST, timeout: float = 60.0, ready: bool = True) -> Iterator[str]:
    """A real uvicorn serving `app` in a thread on a free port of `host`; yields its base URL once /ready says 200
    (an app without /ready, or `ready` False: once it listens), stops it after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    url = f"http://{host}:{sock.getsockname()[1]}"
    while ready and not is_ready(url):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not get ready")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def is_ready(url: str) -> bool:
    """Whether the server at `url` is ready: /ready answers 200, or there is no /ready (404); not while it answers
    otherwise (a 503 while it warms up) or does not answer yet."""
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=5):
            return True
    except urllib.error.HTTPError as err:
        return err.code == 404
    except urllib.error.URLError:  # not listening yet
        return False
