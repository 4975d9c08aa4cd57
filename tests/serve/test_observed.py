"""Every answer carries a request id (the client's, or a new one), its log line names it, and a failure of the
server's own is a JSON 500 with the id, its traceback logged under it."""

import logging

import httpx
from starlette.testclient import TestClient

from cnnlab.serve import app as serve_app
from cnnlab.serve.app import ServeOptions, create_app

from serve_fixtures import SMALL_LIMITS, served_run_fixture  # noqa: F401 (a fixture)


def test_the_clients_request_id_comes_back_and_one_is_made_otherwise(served_run):
    mine = httpx.get(f"{served_run}/health", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made = [httpx.get(f"{served_run}/model").headers["x-request-id"] for _ in range(2)]
    assert made[0] != made[1] and all(len(rid) == 32 for rid in made)
    odd = httpx.get(f"{served_run}/health", headers={"X-Request-ID": "no spaces\tor tabs"})
    assert odd.headers["x-request-id"] != "no spaces\tor tabs"  # what cannot go into a log line as it is: replaced


def test_a_413_is_json_with_its_request_id(served_run):
    response = httpx.post(f"{served_run}/predict", content=b"x" * 1_000_001, headers={"X-Request-ID": "big-1"})
    assert response.status_code == 413 and response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "request body too large: over the limit of 1,000,000 bytes"}
    assert response.headers["x-request-id"] == "big-1"


def test_every_log_line_of_a_request_names_its_id(trained_run, caplog, monkeypatch):
    image = (trained_run[1] / "data" / "test" / "green" / "003.png").read_bytes()
    app = create_app(trained_run[0], ServeOptions(limits=SMALL_LIMITS))
    caplog.set_level(logging.INFO, logger="cnnlab.serve")
    with TestClient(app) as client:
        monkeypatch.setattr(serve_app, "answers_of", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
        failed = client.post("/predict", files={"file": ("g.png", image)}, headers={"X-Request-ID": "oops-7"})
        monkeypatch.undo()
        ok = client.post("/predict", files={"file": ("g.png", image)}, headers={"X-Request-ID": "fine-8"})
    assert failed.status_code == 500 and failed.json() == {"error": "internal error: RuntimeError: boom"}
    assert failed.headers["x-request-id"] == "oops-7" and ok.headers["x-request-id"] == "fine-8"
    lines = [(record.name, record.request_id, record.getMessage()) for record in caplog.records
             if hasattr(record, "request_id")]
    assert ("cnnlab.serve", "oops-7", "POST /predict: internal error: RuntimeError: boom") in lines
    assert [line for line in lines if line[0] == "cnnlab.serve.access"] == [
        ("cnnlab.serve.access", "oops-7", lines[-2][2]), ("cnnlab.serve.access", "fine-8", lines[-1][2])]
    assert lines[-2][2].startswith("POST /predict 500 ") and lines[-1][2].startswith("POST /predict 200 ")


def test_the_docs_work_offline(served_run):
    page = httpx.get(f"{served_run}/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    script = httpx.get(f"{served_run}/docs/assets/swagger-ui-bundle.js")
    bundled = "SwaggerUIBundle" in script.text  # (not in the assert: pytest would diff 1.5 MB of script)
    assert script.status_code == 200 and bundled
    assert httpx.get(f"{served_run}/docs/assets/nothing.js").json() == {"error": "Not Found"}
