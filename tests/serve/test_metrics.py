"""GET /metrics after known traffic, read with Prometheus' own text parser: the counts are the traffic's."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cnnlab.serve.app import ServeOptions, create_app
from cnnlab.serve.server import running

from serve_fixtures import SMALL_LIMITS


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from the text format."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_count_the_traffic_sent(trained_run):
    image = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
    with running(create_app(trained_run[0], ServeOptions(limits=SMALL_LIMITS))) as url:
        for _ in range(3):
            assert httpx.post(f"{url}/predict", files={"file": ("r.png", image)}).status_code == 200
        assert httpx.post(f"{url}/models/colours/predict", files={"files": ("r.png", image)}).status_code == 200
        assert httpx.post(f"{url}/predict", files={"file": ("x.png", b"not an image")}).status_code == 400
        assert httpx.post(f"{url}/predict", content=b"x" * 1_000_001).status_code == 413
        assert httpx.get(f"{url}/nowhere").status_code == 404
        response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    predict, named = (("method", "POST"), ("route", "/predict")), (("method", "POST"), ("route", "/models/{name}/predict"))
    assert found["cnnlab_requests_total", (predict[0], predict[1], ("status", "200"))] == 3
    assert found["cnnlab_requests_total", (named[0], named[1], ("status", "200"))] == 1
    assert found["cnnlab_requests_total", (predict[0], predict[1], ("status", "400"))] == 1
    assert found["cnnlab_request_errors_total", (("kind", "bad_request"), ("route", "/predict"))] == 1
    # the 413 is refused before routing, the 404 found no route: both counted, under the route "unmatched"
    assert found["cnnlab_request_errors_total", (("kind", "too_large"), ("route", "unmatched"))] == 1
    assert found["cnnlab_request_errors_total", (("kind", "not_found"), ("route", "unmatched"))] == 1
    assert found["cnnlab_request_duration_seconds_count", (("route", "/predict"),)] == 4
    # 4 images predicted (the bad upload never reached the model), in at most 4 batches, plus the warm-up's none
    assert found["cnnlab_images_total", (("model", "colours"),)] == 4
    assert 1 <= found["cnnlab_batch_size_count", (("model", "colours"),)] <= 4
    assert found["cnnlab_batch_size_sum", (("model", "colours"),)] == 4
    assert found["cnnlab_requests_in_flight", ()] == 1  # the /metrics request itself
    assert found["cnnlab_model_load_seconds", (("model", "colours"),)] > 0
    info = [labels for (name, labels), value in found.items() if name == "cnnlab_model_info" and value == 1]
    assert len(info) == 1 and dict(info[0])["engine"] == "onnx" and dict(info[0])["architecture"] == "simplecnn"

