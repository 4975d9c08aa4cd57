"""The prediction service over real HTTP: answers for real images, 4xx JSON for bad ones, and it keeps serving."""

import base64
import http.client
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from cnnlab.errors import SettingError
from cnnlab.serve.app import ENVIRONMENT, ServeOptions, app_from_environment, create_app, environment_value
from cnnlab.serve.limits import Limits
from cnnlab.serve.server import running

from serve_fixtures import SMALL_LIMITS, served_onnx_fixture, served_run_fixture  # noqa: F401 (fixtures)


def png_bytes(image: Image.Image) -> bytes:
    """An image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_health_model_and_docs(served_run):
    assert httpx.get(f"{served_run}/health").json()["status"] == "ok"
    info = httpx.get(f"{served_run}/model").json()
    assert info["name"] == "simplecnn" and info["format"] == "pytorch" and info["gradcam"] is True
    assert info["classes"] == ["blue", "green", "red"] and info["input"]["height"] == 32
    assert info["metrics"]["val_acc"] > 0.9
    assert httpx.get(f"{served_run}/docs").status_code == 200
    assert "/predict" in httpx.get(f"{served_run}/openapi.json").json()["paths"]


@pytest.mark.parametrize("colour", ["red", "green", "blue"])
def test_predict_one_image(served_run, trained_run, colour):
    image = trained_run[1] / "data" / "test" / colour / "004.png"
    response = httpx.post(f"{served_run}/predict", files={"file": (image.name, image.read_bytes(), "image/png")},
                          params={"top": 2})
    assert response.status_code == 200
    prediction = response.json()["predictions"][0]
    assert prediction["file"] == image.name and len(prediction["top"]) == 2
    assert prediction["top"][0]["class"] == colour and prediction["top"][0]["probability"] > 0.5


def test_predict_a_batch_and_a_big_jpeg(served_run, trained_run):
    root = trained_run[1] / "data" / "test"
    files = [("files", (f"{c}.png", (root / c / "001.png").read_bytes(), "image/png")) for c in ("blue", "red", "green")]
    big_red = io.BytesIO()
    Image.new("RGB", (400, 300), (220, 40, 40)).save(big_red, "JPEG")
    files.append(("files", ("big.jpg", big_red.getvalue(), "image/jpeg")))
    response = httpx.post(f"{served_run}/predict", files=files)
    assert response.status_code == 200
    tops = [p["top"][0]["class"] for p in response.json()["predictions"]]
    assert tops == ["blue", "red", "green", "red"]
    assert all(len(p["top"]) == 3 for p in response.json()["predictions"])  # top-5 of three classes


def test_gradcam_overlay_is_a_png(served_run, trained_run):
    image = trained_run[1] / "data" / "test" / "red" / "000.png"
    response = httpx.post(f"{served_run}/predict", files={"file": ("red.png", image.read_bytes())},
                          params={"gradcam": "true"})
    url = response.json()["predictions"][0]["gradcam"]
    assert url.startswith("data:image/png;base64,")
    overlay = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert overlay.format == "PNG" and overlay.size == (224, 224) and overlay.mode == "RGB"


def bad_uploads() -> dict:
    """Name → (multipart files, form data, expected status, words the error must contain)."""
    good = png_bytes(Image.new("RGB", (32, 32), (220, 40, 40)))
    noise = os.urandom(SMALL_LIMITS.max_bytes + 1)
    return {
        "text": ({"file": ("notes.png", b"just some text", "image/png")}, None, 400, "not an image"),
        "empty": ({"file": ("empty.png", b"", "image/png")}, None, 400, "empty file"),
        "corrupt": ({"file": ("cut.png", good[: len(good) // 2], "image/png")}, None, 400, "cut.png"),
        "html": ({"file": ("page.jpg", b"<!doctype html><html></html>", "image/jpeg")}, None, 400, "HTML"),
        "wrong field": ({"image": ("red.png", good, "image/png")}, None, 400, "multipart field 'file'"),
        "text field": (None, {"file": "red.png"}, 422, "file"),
        "too many bytes": ({"file": ("noise.png", noise, "image/png")}, None, 413, "upload limit"),
        "too many pixels": ({"file": ("huge.png", png_bytes(Image.new("L", (2000, 2000))), "image/png")}, None, 413,
                            "4,000,000 pixels"),
        "too many files": ([("files", (f"{i}.png", good, "image/png")) for i in range(9)], None, 413, "9 files"),
    }


@pytest.mark.parametrize("case", list(bad_uploads()))
def test_bad_uploads_get_a_json_4xx_and_the_server_keeps_serving(served_run, case):
    files, data, status, words = bad_uploads()[case]
    response = httpx.post(f"{served_run}/predict", files=files, data=data)
    assert response.status_code == status
    assert words in response.json()["error"]
    good = png_bytes(Image.new("RGB", (32, 32), (40, 200, 60)))
    after = httpx.post(f"{served_run}/predict", files={"file": ("green.png", good, "image/png")})
    assert after.status_code == 200 and after.json()["predictions"][0]["top"][0]["class"] == "green"


TOO_LARGE = {"error": "request body too large: over the limit of 1,000,000 bytes"}


@pytest.mark.parametrize(("method", "path"), [("POST", "/predict"), ("GET", "/health"), ("POST", "/nowhere"),
                                              ("PUT", "/model")])
def test_a_body_announced_over_the_limit_is_refused_unread_in_json(served_run, method, path):
    host, port = served_run.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, path)
    conn.putheader("Content-Type", "multipart/form-data; boundary=b")
    conn.putheader("Content-Length", "999999999")
    conn.endheaders()  # and no body: the answer must not wait for it
    response = conn.getresponse()
    assert response.status == 413 and response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == TOO_LARGE  # JSON on every route, before routing
    conn.close()
    assert httpx.get(f"{served_run}/health").json()["status"] == "ok"


def test_a_chunked_body_over_the_limit_is_refused(served_run):
    def chunks():
        """Multipart framing around 2 MB of noise, sent without a Content-Length."""
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        for _ in range(8):
            yield os.urandom(256_000)
        yield b"\r\n--b--\r\n"

    response = httpx.post(f"{served_run}/predict", content=chunks(),
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and response.json() == TOO_LARGE
    assert httpx.get(f"{served_run}/health").json()["status"] == "ok"


def test_concurrent_requests_all_answered_correctly(served_run, trained_run):
    root = trained_run[1] / "data" / "test"
    jobs = [(c, (root / c / f"{i:03d}.png").read_bytes()) for i in range(6) for c in ("red", "green", "blue")]

    def ask(job: tuple[str, bytes]) -> str:
        response = httpx.post(f"{served_run}/predict", files={"file": ("x.png", job[1])}, timeout=60)
        return response.json()["predictions"][0]["top"][0]["class"]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, jobs)) == [c for c, _ in jobs]
    assert httpx.get(f"{served_run}/health").json()["batches"] >= 1


def test_serving_the_onnx_export(served_onnx, trained_run):
    info = httpx.get(f"{served_onnx}/model").json()
    assert info["format"] == "onnx" and info["gradcam"] is False and info["classes"] == ["blue", "green", "red"]
    image = (trained_run[1] / "data" / "test" / "blue" / "002.png").read_bytes()
    response = httpx.post(f"{served_onnx}/predict", files={"file": ("b.png", image)})
    assert response.json()["predictions"][0]["top"][0]["class"] == "blue"
    refused = httpx.post(f"{served_onnx}/predict", files={"file": ("b.png", image)}, params={"gradcam": "true"})
    assert refused.status_code == 400 and "Grad-CAM needs the run" in refused.json()["error"]


def test_worker_processes_build_the_same_app_from_the_environment(trained_run, monkeypatch):
    options = ServeOptions(batching=False, limits=Limits(max_bytes=1000, max_pixels=50, max_files=2))
    monkeypatch.setenv(ENVIRONMENT, environment_value(trained_run[0], options))
    with running(app_from_environment()) as url:
        assert httpx.get(f"{url}/model").json()["classes"] == ["blue", "green", "red"]
        big = png_bytes(Image.new("RGB", (8, 8)))
        assert "over the limit of 50" in httpx.post(f"{url}/predict", files={"file": ("b.png", big)}).json()["error"]
        small = png_bytes(Image.new("RGB", (7, 7), (40, 60, 220)))
        assert httpx.post(f"{url}/predict", files={"file": ("s.png", small)}).json()["predictions"][0]["top"][0]["class"] == "blue"


@pytest.mark.parametrize(("fields", "setting", "problem"), [
    ({"max_batch": 0}, "max_batch", "must be at least 1, got 0"),
    ({"max_batch": 1.5}, "max_batch", "must be a whole number, got 1.5"),
    ({"max_wait_ms": -5}, "max_wait_ms", "must be at least 0, got -5"),
    ({"max_wait_ms": float("inf")}, "max_wait_ms", "must be a finite number, got inf"),
    ({"batching": "yes"}, "batching", "must be true or false, got 'yes'"),
])
def test_serve_options_the_server_cannot_use_are_refused_by_name(fields, setting, problem):
    with pytest.raises(SettingError) as caught:
        ServeOptions(**fields)
    assert caught.value.setting == setting and str(caught.value) == f"`{setting}` {problem}"


def test_serve_options_take_limits_as_a_dict_as_worker_processes_read_them():
    options = ServeOptions(limits={"max_bytes": 1000, "max_pixels": 50, "max_files": 2, "max_request_bytes": None})
    assert options.limits == Limits(max_bytes=1000, max_pixels=50, max_files=2)


def test_the_app_serves_again_after_its_lifespan_ran_and_stopped(trained_run):
    from starlette.testclient import TestClient

    from cnnlab.serve.app import create_app

    app = create_app(trained_run[0], ServeOptions(limits=SMALL_LIMITS))
    image = (trained_run[1] / "data" / "test" / "red" / "003.png").read_bytes()
    for _ in range(2):  # a test client (schemathesis's too) runs the lifespan once per block
        with TestClient(app) as client:
            answer = client.post("/predict", files={"file": ("r.png", image)}, params={"gradcam": "true"})
            assert answer.status_code == 200 and answer.json()["predictions"][0]["top"][0]["class"] == "red"
            assert client.get("/health").json()["batches"] == 1


def test_a_failure_of_the_server_itself_is_a_json_500_and_it_goes_on(trained_run, monkeypatch):
    from starlette.testclient import TestClient

    from cnnlab.data.decode import UnreadableImage
    from cnnlab.serve import app as serve_app
    from cnnlab.serve import overlay

    app = serve_app.create_app(trained_run[0], ServeOptions(limits=SMALL_LIMITS))
    image = (trained_run[1] / "data" / "test" / "green" / "003.png").read_bytes()
    with TestClient(app, raise_server_exceptions=False) as client:
        real = overlay.decode_image
        monkeypatch.setattr(overlay, "decode_image", lambda *a, **k: (_ for _ in ()).throw(UnreadableImage("x", "odd")))
        cam = client.post("/predict", files={"file": ("g.png", image)}, params={"gradcam": "true"})
        assert cam.status_code == 400 and cam.json() == {"error": "g.png: odd"}  # the overlay's decoder: a refusal
        monkeypatch.setattr(overlay, "decode_image", real)
        monkeypatch.setattr(serve_app, "answers_of", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom\nmore")))
        failed = client.post("/predict", files={"file": ("g.png", image)})  # a bug of the server's own
        monkeypatch.undo()
        assert failed.status_code == 500 and failed.json() == {"error": "internal error: RuntimeError: boom"}
        after = client.post("/predict", files={"file": ("g.png", image)})
        assert after.status_code == 200 and after.json()["predictions"][0]["top"][0]["class"] == "green"


def test_answers_unsure_below_the_minimum_confidence_asked_for(served_run, trained_run):
    image = trained_run[1] / "data" / "test" / "red" / "001.png"
    upload = {"file": (image.name, image.read_bytes(), "image/png")}
    sure = httpx.post(f"{served_run}/predict", files=upload).json()["predictions"][0]
    assert sure["answer"] == "red" == sure["top"][0]["class"]  # the server's own minimum: 0
    unsure = httpx.post(f"{served_run}/predict", files=upload, params={"min_confidence": 1.0}).json()["predictions"][0]
    assert unsure["answer"] == "unsure" and unsure["top"] == sure["top"]
    refused = httpx.post(f"{served_run}/predict", files=upload, params={"min_confidence": 2})
    assert refused.status_code == 422 and "min_confidence" in refused.json()["error"]
    with pytest.raises(SettingError, match="`min_confidence`"):
        ServeOptions(min_confidence=1.5)


def test_a_multi_label_run_is_served_with_its_labels_above_their_thresholds(labelled_run):
    run, shapes, truth = labelled_run
    index = next(i for i in range(0, 400, 5) if len(truth[i]) == 2)  # a test image holding two of the shapes
    image = shapes / f"{index:04d}.png"
    with running(create_app(run)) as url:
        info = httpx.get(f"{url}/model").json()
        assert info["multi_label"] is True and len(info["thresholds"]) == 3
        response = httpx.post(f"{url}/predict", files={"file": (image.name, image.read_bytes(), "image/png")},
                              params={"top": 3, "gradcam": "true"})
        prediction = response.json()["predictions"][0]
        assert response.status_code == 200 and {label["class"] for label in prediction["labels"]} == truth[index]
        assert prediction["answer"] == ", ".join(label["class"] for label in prediction["labels"])
        assert prediction["gradcam"].startswith("data:image/png;base64,")
        refused = httpx.post(f"{url}/predict", files={"file": (image.name, image.read_bytes(), "image/png")},
                             params={"min_confidence": 0.5})
        assert refused.status_code == 400 and "applies to single-label models" in refused.json()["error"]
    with pytest.raises(SettingError, match="`min_confidence` applies to single-label models"):
        create_app(run, ServeOptions(min_confidence=0.5))
