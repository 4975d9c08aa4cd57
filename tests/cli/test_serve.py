"""`cnnlab serve` as a user runs it: a server process on the loopback address that answers predictions."""

import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from cnnlab.serve.server import is_ready


def test_cli_serve_binds_loopback_and_serves_through_onnx_runtime_by_default(trained_run, tmp_path):
    run = tmp_path / "colours"  # a copy: the export the server makes goes into the run, not into the shared fixture
    shutil.copytree(trained_run[0], run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", str(run), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        # /ready, not /health: the model's own process may still be starting (seconds on a busy 2-core machine)
        deadline = time.monotonic() + 120
        while not is_ready(f"http://127.0.0.1:{port}"):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        image = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("r.png", image)}).json()
        assert answer["predictions"][0]["top"][0]["class"] == "red"
        assert httpx.get(f"http://127.0.0.1:{port}/model").json()["engine"] == "onnx"
        assert (run / "export" / "serve.onnx").is_file()  # exported into the run, once
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert f"Uvicorn running on http://127.0.0.1:{port}" in (tmp_path / "serve.log").read_text()


@pytest.mark.parametrize(("options", "message"), [
    (["--port", "-1"], "--port must be between 0 (any free port) and 65535, got -1"),
    (["--port", "70000"], "--port must be between 0 (any free port) and 65535, got 70000"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--max-batch", "0"], "--max-batch must be at least 1, got 0"),
    (["--max-upload-mb", "-1"], "--max-upload-mb must be above 0, got -1"),
    (["--max-upload-mb", "0"], "--max-upload-mb must be above 0, got 0"),
    (["--max-upload-mb", "inf"], "--max-upload-mb must be a finite number, got inf"),
    (["--max-pixels", "0"], "--max-pixels must be at least 1, got 0"),
    (["--max-wait-ms", "-5"], "--max-wait-ms must be at least 0, got -5"),
    (["--max-wait-ms", "nan"], "--max-wait-ms must be a finite number, got nan"),
])
def test_bad_options_are_one_line_naming_the_flag(cli, trained_run, monkeypatch, options, message):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the server must not start"))
    code, out, err = cli("serve", str(trained_run[0]), *options)
    assert code == 2 and f"error: {message}" in " ".join((out + err).split())
    assert "Traceback" not in out + err


def test_port_zero_takes_a_free_port(cli, trained_run, monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs))
    code, _, _ = cli("serve", str(trained_run[0]), "--port", "0", "--max-upload-mb", "100")
    assert code in (0, None) and started["port"] == 0 and started["host"] == "127.0.0.1"


def test_a_fake_exported_model_is_one_error_line(cli, trained_run, tmp_path):
    from cnnlab.inference.export import export_model

    path = tmp_path / "model.torchscript.pt"
    export_model(trained_run[0], "torchscript", path)
    path.write_bytes(b"\x00" * 100 + b"not a model")
    code, out, err = cli("serve", str(path))
    text = " ".join((out + err).split())
    assert code == 2 and f"error: {path}: not a TorchScript model (" in text and "Traceback" not in text
