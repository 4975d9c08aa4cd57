"""`import cnnlab` as a student uses it: train, load, summary, ops; the settings of `cnnlab train`, checked alike."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.errors import SettingError
from cnnlab.settings import Settings
from cnnlab.train.defaults import concrete


def test_train_takes_the_cli_settings_and_returns_a_run(colour_folder, tmp_path, heard):
    run = cnnlab.train(data=colour_folder, out=tmp_path, name="api", epochs=2, batch_size=32)
    assert isinstance(run, cnnlab.Run) and run.path == tmp_path / "api"
    assert len(run.metrics) == 2 and run.classes == ["blue", "green", "red"]
    assert any("epoch   2/2" in event.line() for event in heard.events)  # outside a kernel: the current reporter
    config = Settings.from_dict(json.loads((run.path / "config.json").read_text())["settings"])
    # what the same flags give `cnnlab train` (with `model` auto made concrete for the data, as a run does)
    given = Settings.of(data=str(colour_folder), out=str(tmp_path), name="api", epochs=2, batch_size=32)
    assert config == concrete(given) and config.model.model == "simplecnn"


def test_train_resumes_a_run_and_can_start_from_it(colour_folder, tmp_path):
    first = cnnlab.train(data=colour_folder, out=tmp_path, name="a", epochs=1, batch_size=32, max_steps=2, quiet=True)
    again = cnnlab.train(resume=first, quiet=True)
    assert again.path == first.path
    tuned = cnnlab.train(data=colour_folder, out=tmp_path, name="b", epochs=1, batch_size=32, max_steps=2,
                         pretrained=first, quiet=True)  # a Run where a setting takes a path
    assert tuned.loaded.settings.model.pretrained == str(first.path)


@pytest.mark.parametrize(("given", "message"), [
    ({"lr": -1}, "`lr` must be above 0"),
    ({"optimizer": "rmsprop"}, "`optimizer`"),
    ({"learning_rate": 0.1}, "`learning_rate` is not a setting"),
    ({"muon_lr": 0.1}, "`muon_lr` applies to `optimizer` muon only"),
])
def test_a_wrong_setting_is_refused_by_name_before_anything_trains(given, message, tmp_path):
    with pytest.raises(SettingError, match=message):
        cnnlab.train(out=tmp_path, **given)
    assert not any(tmp_path.iterdir())


def test_cnnlab_train_stays_callable_once_its_package_is_imported():
    import cnnlab.train.fit

    assert callable(cnnlab.train) and cnnlab.train.fit.fit is not None


def test_import_cnnlab_stays_light():
    code = "import sys, cnnlab; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_summary_takes_a_name_a_module_or_a_run(trained_run):
    assert cnnlab.summary("resnet18").totals.params == 11_689_512
    assert cnnlab.summary("lenet5", input=(1, 32, 32)).totals.params == 61_706
    module = cnnlab.create_model("simplecnn", num_classes=10)
    assert cnnlab.summary(module).totals.params == 620_810
    assert cnnlab.summary(torch.nn.Conv2d(3, 8, 3), input="3x8x8").layers[0].output_shape == (8, 6, 6)
    with pytest.raises(cnnlab.CnnlabError, match="`input`"):
        cnnlab.summary(torch.nn.Conv2d(3, 8, 3))
    assert cnnlab.summary(trained_run[0]).stages is not None


def test_load_names_what_is_missing(tmp_path):
    with pytest.raises(cnnlab.CnnlabError, match="no config.json|not a cnnlab run|checkpoint"):
        cnnlab.load(tmp_path)


def test_ops_are_the_courses_math():
    x = [[1, 2, 3, 0, 1], [0, 1, 2, 1, 0], [1, 0, 1, 2, 1], [2, 1, 0, 1, 2], [0, 2, 1, 0, 1]]
    k = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    import numpy as np

    assert cnnlab.ops.conv2d(np.array(x), np.array(k)).tolist() == [[7, 6, 7], [4, 5, 6], [4, 4, 5]]
    assert cnnlab.ops.explain_conv(np.array(x), np.array(k), (0, 0)).endswith("= 7")


def test_gradient_flow_draws_each_model(tmp_path):
    picture = cnnlab.gradient_flow("plain20", "resnet20", count=8, out=tmp_path / "flow.png")
    assert Path(picture).is_file() and picture._repr_png_().startswith(b"\x89PNG")
