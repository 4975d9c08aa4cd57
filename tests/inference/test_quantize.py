"""export --quantize int8: an int8 ONNX model that predicts and serves like any export, checked against fp32 on the
run's evaluation split, and refused past the tolerance."""

import json

import pytest
import torch

from cnnlab.errors import CnnlabError, SettingError
from cnnlab.inference import export as export_module
from cnnlab.inference.export import export_model
from cnnlab.inference.exported import load_exported, metadata_path
from cnnlab.inference.predict import predict_files


def test_an_int8_export_is_checked_against_fp32_and_predicts_like_any_export(trained_run, tmp_path):
    run, root = trained_run
    path = tmp_path / "model.int8.onnx"
    result = export_model(run, "onnx", path, quantize="int8", calibration_images=64)
    meta = json.loads(metadata_path(path).read_text())
    quantization, check = meta["quantization"], meta["verification"]
    assert quantization["format"] == "QDQ" and quantization["calibration_images"] == 64
    assert check["split"] == "test" and check["images"] == 30 and check["passed"] and check["max_drop"] == 0.5
    assert check["fp32_against_pytorch"]["passed"] and check["drop_points"] <= 0.5
    assert check["drop_points"] == pytest.approx(100 * (check["fp32_top1"] - check["int8_top1"]), abs=1e-3)
    assert set(check["images_per_s"]) == {"batch_1", "batch_64"}
    assert all(figures["int8"] > 0 and figures["fp32"] > 0 for figures in check["images_per_s"].values())
    assert result["file"] == str(path)
    import onnx

    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # the QDQ form
    loaded = load_exported(path)
    assert loaded.exported == "onnx" and loaded.classes == ["blue", "green", "red"]
    results, skipped = predict_files(loaded, [root / "data" / "test" / "red"])
    assert not skipped and sum(r["answer"] == "red" for r in results) >= 9


def test_an_int8_model_that_loses_more_than_the_tolerance_fails_and_says_so(trained_run, tmp_path, monkeypatch):
    real = export_module.accuracy_side_by_side

    def worse(fp32, int8, dataset):
        """The real check, with the int8 model 1 point worse."""
        found = real(fp32, int8, dataset)
        return {**found, "int8_top1": found["fp32_top1"] - 0.01, "drop_points": 1.0}

    monkeypatch.setattr(export_module, "accuracy_side_by_side", worse)
    path = tmp_path / "model.int8.onnx"
    with pytest.raises(CnnlabError, match=r"int8 loses 1.00 points .* tolerance of 0.5 \(`max_drop`\)"):
        export_model(trained_run[0], "onnx", path, quantize="int8", calibration_images=16)
    assert json.loads(metadata_path(path).read_text())["verification"]["passed"] is False


@pytest.mark.parametrize(("arguments", "setting"), [({"quantize": "int4"}, "quantize"),
                                                    ({"quantize": "int8", "fmt": "torchscript"}, "quantize"),
                                                    ({"quantize": "int8", "max_drop": -1}, "max_drop"),
                                                    ({"quantize": "int8", "calibration_images": 0}, "calibration_images")])
def test_quantize_options_are_refused_by_name_before_anything_is_written(trained_run, tmp_path, arguments, setting):
    with pytest.raises(SettingError) as caught:
        export_model(trained_run[0], out=tmp_path / "m.onnx", **arguments)
    assert caught.value.setting == setting and not list(tmp_path.iterdir())


def test_calibration_draws_the_same_training_images_for_the_same_seed(trained_run):
    from cnnlab.inference.loaded import load_model
    from cnnlab.inference.quantize import calibration_images

    dataset = load_model(trained_run[0]).dataset()
    first, again, other = (calibration_images(dataset, 20, seed) for seed in (0, 0, 1))
    assert first.dtype == torch.uint8 and len(first) == 20 and torch.equal(first, again)
    assert not torch.equal(first, other)
