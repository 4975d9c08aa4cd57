"""run_server's own settings: the address and the workers, refused by name before anything loads."""

import pytest

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
    import time

    host, port = served_run.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/health")
    assert conn.getresponse().read() and conn.sock is not None
    time.sleep(5.5)
    conn.request("GET", "/health")  # on the same connection: http.client would reconnect only if it were closed
    response = conn.getresponse()
    assert response.status == 200 and response.will_close is False
    conn.close()
