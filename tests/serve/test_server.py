"""run_server: its address and workers refused by name before anything loads, its keep-alive, its graceful SIGTERM."""

import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cnnlab.errors import SettingError
from cnnlab.serve.server import run_server

from serve_fixtures import served_run_fixture  # noqa: F401 (a fixture)


@pytest.mark.parametrize(("arguments", "setting", "problem"), [
    ({"port": -1}, "port", "must be between 0 (any free port) and 65535, got -1"),
    ({"port": 65536}, "port", "must be between 0 (any free port) and 65535, got 65536"),
    ({"port": "80"}, "port", "must be a whole number, got '80'"),
    ({"workers": 0}, "workers", "must be at least 1, got 0"),
    ({"workers": -3}, "workers", "must be at least 1, got -3"),
    ({"host": ""}, "host", "must be an address or a host name, got ''"),
])
def test_bad_addresses_and_workers_are_refused_by_name(tmp_path, monkeypatch, arguments, setting, problem):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the server must not start"))
    with pytest.raises(SettingError) as caught:
        run_server(tmp_path / "no such run", **arguments)
    assert caught.value.setting == setting and str(caught.value) == f"`{setting}` {problem}"


def test_an_idle_keep_alive_connection_outlives_the_clients_own_expiry(served_run):
    """uvicorn's default closes an idle connection after 5 s, the moment httpx's pool (5 s) reuses it: a client
    then sometimes gets a connection reset. The server keeps it longer, so the client's pool expires it first."""
    import http.client

    host, port = served_run.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/health")
    assert conn.getresponse().read() and conn.sock is not None
    time.sleep(5.5)
    conn.request("GET", "/health")  # on the same connection: http.client would reconnect only if it were closed
    response = conn.getresponse()
    assert response.status == 200 and response.will_close is False
    conn.close()


def test_sigterm_finishes_the_requests_in_flight_then_exits(trained_run, tmp_path):
    """`cnnlab serve` as a real process: 12 requests wait in the batcher (a 3 s wait for company), SIGTERM comes
    while every one is in flight, and each still gets its 200 before the process exits; then nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", str(trained_run[0]), "--port", str(port),
                                "--max-wait-ms", "3000", "--max-batch", "64"], stdout=log, stderr=subprocess.STDOUT)

    def in_flight() -> float:
        """The server's in-flight gauge, less the /metrics request asking."""
        text = httpx.get(f"{url}/metrics").text
        gauge = next(f for f in text_string_to_metric_families(text) if f.name == "cnnlab_requests_in_flight")
        return gauge.samples[0].value - 1

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        image = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
        with ThreadPoolExecutor(12) as pool:
            answers = [pool.submit(httpx.post, f"{url}/predict", files={"file": ("r.png", image)}, timeout=60)
                       for _ in range(12)]
            while in_flight() < 12:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            results = [answer.result() for answer in answers]
        assert [r.status_code for r in results] == [200] * 12
        assert all(r.json()["predictions"][0]["top"][0]["class"] == "red" for r in results)
        assert process.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has drained
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")
