"""Models in the server: /ready only once each is warmed up (/health all along), several side by side, each with its
own classes and the version its run records."""

import threading

import httpx
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.serve import served as served_module
from cnnlab.serve.app import ServeOptions, create_app
from cnnlab.serve.served import split_name
from cnnlab.serve.server import running

from conftest import write_grey_images


@pytest.fixture(scope="module", name="grey_run")
def grey_run_fixture(tmp_path_factory) -> str:
    """A second run, of other classes (dark, light) and input (one channel), trained a few steps."""
    from cnnlab.settings import resolve
    from cnnlab.train.fit import fit

    root = tmp_path_factory.mktemp("grey")
    write_grey_images(root / "data" / "train", per_class=8)
    write_grey_images(root / "data" / "test", per_class=2)
    config = resolve(data=str(root / "data"), out=str(root / "runs"), name="grey", epochs=1, batch_size=8)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        return str(fit(config).run_dir)


def test_ready_is_a_503_until_the_warm_up_is_done_and_health_answers_all_along(trained_run, monkeypatch):
    release = threading.Event()
    real = served_module.ServedModel.warm_up

    def held(self, max_batch):
        """The warm-up, once the test lets it go on."""
        release.wait(30)
        real(self, max_batch)

    monkeypatch.setattr(served_module.ServedModel, "warm_up", held)
    with running(create_app(trained_run[0]), ready=False) as url:
        cold = httpx.get(f"{url}/ready")
        assert cold.status_code == 503 and cold.json() == {"error": "not ready: warming up colours"}
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        release.set()
        for _ in range(300):
            warm = httpx.get(f"{url}/ready")
            if warm.status_code == 200:
                break
            threading.Event().wait(0.05)
        assert warm.status_code == 200 and warm.json() == {"status": "ready", "models": ["colours"]}


def test_two_models_side_by_side_answer_with_their_own_classes(trained_run, grey_run):
    red = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
    with running(create_app([trained_run[0], f"dim={grey_run}"])) as url:
        listed = httpx.get(f"{url}/models").json()
        assert [(m["served_as"], m["classes"]) for m in listed] == [("colours", ["blue", "green", "red"]),
                                                                     ("dim", ["dark", "light"])]
        assert all(m["version"].startswith("e") and m["engine"] == "onnx" for m in listed)  # the default: auto
        assert listed[0]["version"] != listed[1]["version"]
        colours = httpx.post(f"{url}/models/colours/predict", files={"file": ("r.png", red)}).json()
        dim = httpx.post(f"{url}/models/dim/predict", files={"file": ("r.png", red)}).json()
        assert colours["served_as"] == "colours" and colours["predictions"][0]["top"][0]["class"] == "red"
        assert dim["served_as"] == "dim" and {r["class"] for r in dim["predictions"][0]["top"]} == {"dark", "light"}
        assert colours["version"] == listed[0]["version"] and dim["version"] == listed[1]["version"]
        default = httpx.post(f"{url}/predict", files={"file": ("r.png", red)}).json()  # the first named
        assert default["served_as"] == "colours" and httpx.get(f"{url}/model").json()["served_as"] == "colours"
        assert httpx.get(f"{url}/models/dim").json()["input"]["channels"] == 1
        unknown = httpx.post(f"{url}/models/cats/predict", files={"file": ("r.png", red)})
        assert unknown.status_code == 422 and "'colours' or 'dim'" in unknown.json()["error"]


def test_two_models_of_one_name_are_refused(trained_run):
    with pytest.raises(CnnlabError, match="two models named 'colours'.*NAME=PATH"):
        create_app([trained_run[0], trained_run[0]])


@pytest.mark.parametrize(("given", "split"), [("cats=runs/a", ("cats", "runs/a")), ("runs/a", (None, "runs/a")),
                                              ("a b=runs/a", (None, "a b=runs/a"))])
def test_names_are_split_from_name_equals_path(given, split):
    assert split_name(given) == split


def test_a_run_served_through_onnx_runtime_is_exported_once_and_grad_cam_still_works(trained_run, tmp_path):
    import shutil

    run = tmp_path / "colours"
    shutil.copytree(trained_run[0], run)
    red = (trained_run[1] / "data" / "test" / "red" / "001.png").read_bytes()
    with running(create_app(run, ServeOptions(engine="onnx"))) as url:
        assert httpx.get(f"{url}/model").json()["engine"] == "onnx"
        answer = httpx.post(f"{url}/predict", files={"file": ("r.png", red)}, params={"gradcam": "true"}).json()
        assert answer["predictions"][0]["top"][0]["class"] == "red"
        assert answer["predictions"][0]["gradcam"].startswith("data:image/png;base64,")  # PyTorch, on demand
    made = (run / "export" / "serve.onnx").stat().st_mtime_ns
    create_app(run, ServeOptions(engine="onnx"))
    assert (run / "export" / "serve.onnx").stat().st_mtime_ns == made  # the same weights: the same export
