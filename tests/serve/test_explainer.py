"""The explainer's JSON endpoints over real HTTP: a trace, a unit, Grad-CAM, filters, uploads; bad requests are a
JSON 4xx and the server goes on."""

import httpx
import pytest

from serve_fixtures import explained_fixture  # noqa: F401 (fixture)


def test_model_images_trace_and_filters(explained):
    info = httpx.get(f"{explained}/model").json()
    assert info["name"] == "simplecnn" and info["classes"] == ["blue", "green", "red"] and not info["random"]
    assert info["layers"][0]["type"] == "Conv2d" and info["layers"][0]["receptive_field"] == [3, 3]
    images = httpx.get(f"{explained}/images").json()
    assert len(images) == 12 and images[0]["thumbnail"].startswith("data:image/png;base64,")
    trace = httpx.get(f"{explained}/images/t0/trace", params={"channels": 4}).json()
    assert trace["probabilities"][0]["class"] == images[0]["class"]
    assert abs(sum(p["probability"] for p in trace["probabilities"]) - 1) < 1e-5
    first = trace["maps"]["0"]
    assert (first["channels"], first["total"], first["height"], first["width"]) == (4, 32, 32, 32)
    assert len(first["data"]) == 4 * ((4 * 32 * 32 + 2) // 3)  # base64 of one byte per unit
    filters = httpx.get(f"{explained}/filters").json()
    assert filters["layer"] == "features.0.0.conv" and filters["shape"] == [32, 3, 3, 3] and len(filters["tiles"]) == 32


def test_an_upload_is_explained_like_a_test_image(explained, trained_run):
    image = (trained_run[1] / "data" / "test" / "red" / "003.png").read_bytes()
    answer = httpx.post(f"{explained}/images", files={"file": ("mine.png", image)}).json()
    assert answer["id"].startswith("u") and answer["name"] == "mine.png"
    unit = httpx.get(f"{explained}/images/{answer['id']}/unit", params={"layer": 3, "channel": 0, "row": 2, "col": 5})
    assert unit.status_code == 200
    body = unit.json()
    # pool unit (2, 5) takes conv rows 4-5 and columns 10-11, each seeing one pixel more on every side
    assert body["steps"][0]["kind"] == "maxpool" and body["field"]["box"] == {"top": 3, "left": 9, "bottom": 7,
                                                                              "right": 13}
    assert body["effective"]["image"].startswith("data:image/png;base64,")
    cam = httpx.get(f"{explained}/images/{answer['id']}/gradcam", params={"class": 2}).json()
    assert cam["class"] == "red" and cam["probability"] > 0.5 and cam["overlay"].startswith("data:image/png")


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/images/t999/trace", {}, 404, "no image 't999'"),
    ("/images/../model/trace", {}, 404, ""),
    ("/images/t0/unit", {"layer": 0, "channel": 99, "row": 0, "col": 0}, 400, "outside layer 0"),
    ("/images/t0/unit", {"layer": 13, "channel": 0, "row": 0, "col": 0}, 400, "gives no feature maps"),
    ("/images/t0/unit", {"layer": 999, "channel": 0, "row": 0, "col": 0}, 400, "no layer 999"),
    ("/images/t0/unit", {"layer": 0, "channel": -1, "row": 0, "col": 0}, 422, "channel"),
    ("/images/t0/gradcam", {"class": 3}, 400, "no class 3"),
    ("/static/../explainer.py", {}, 404, ""),
])
def test_bad_requests_are_a_json_4xx(explained, path, params, status, message):
    answer = httpx.get(f"{explained}{path}", params=params)
    assert answer.status_code == status and message in answer.json()["error"]
    assert httpx.get(f"{explained}/images/t0/trace").status_code == 200  # and it goes on


def test_an_upload_that_is_no_image_is_refused(explained):
    answer = httpx.post(f"{explained}/images", files={"file": ("notes.png", b"plain text")})
    assert answer.status_code == 400 and "notes.png" in answer.json()["error"]
    assert httpx.post(f"{explained}/images").status_code == 400


def test_a_run_whose_data_moved_away_offers_uploads_only(trained_run, monkeypatch, heard):
    from cnnlab.errors import CnnlabError
    from cnnlab.serve import explainer
    from cnnlab.serve.server import running

    def moved(_loaded):
        raise CnnlabError("/data/colours: no such folder")

    monkeypatch.setattr(explainer, "example_images", moved)
    with running(explainer.create_explainer_app(trained_run[0])) as url:
        assert httpx.get(f"{url}/images").json() == []
        assert httpx.get(f"{url}/model").json()["name"] == "simplecnn"
    assert "no test images to offer (/data/colours: no such folder)" in heard.lines
