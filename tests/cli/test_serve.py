"""`cnnlab serve` as a user runs it: a server process on the loopback address that answers predictions."""

import socket
import subprocess
import sys
import time

import httpx


def test_cli_serve_binds_loopback_by_default(trained_run, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", str(trained_run[0]), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.3)
        image = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("r.png", image)}).json()
        assert answer["predictions"][0]["top"][0]["class"] == "red"
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert f"Uvicorn running on http://127.0.0.1:{port}" in (tmp_path / "serve.log").read_text()
