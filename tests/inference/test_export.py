"""export_model: ONNX and TorchScript files that agree with PyTorch, their metadata, and verify."""

import json

import pytest
import torch

from cnnlab.errors import CnnlabError

from cnnlab.inference.export import export_model, verify, written_opset
from cnnlab.inference.exported import load_exported, metadata_path
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.inference.predict import expand_images


@pytest.mark.parametrize("fmt, dynamic, opset", [("onnx", True, None), ("onnx", False, 21), ("torchscript", False, None)])
def test_export_agrees_with_pytorch(trained_run, tmp_path, fmt, dynamic, opset):
    run, root = trained_run
    result = export_model(run, fmt, tmp_path / f"model.{fmt}", dynamic_batch=dynamic, opset=opset)
    check = result["verification"]
    assert check["passed"] and check["images"] == 30 and check["top1_agree"] == 30 and check["max_abs_diff"] <= 1e-4
    meta = json.loads(metadata_path(tmp_path / f"model.{fmt}").read_text())
    record = meta["model"]
    assert record["classes"] == ["blue", "green", "red"] and record["input_shape"] == [3, 32, 32]
    assert record["architecture"] == "simplecnn"
    assert meta["format"] == fmt and meta["opset"] == (opset or 18 if fmt == "onnx" else None)
    if fmt == "onnx":
        assert written_opset(tmp_path / f"model.{fmt}") == meta["opset"]  # the file is what its metadata says
    assert meta["metrics"]["val_acc"] > 0.9 and len(record["mean"]) == len(record["std"]) == 3
    reference, exported = load_model(run), load_exported(tmp_path / f"model.{fmt}")
    images, _, _ = reference.decode(expand_images([root / "data" / "test"]))
    assert torch.allclose(exported.logits(images), reference.logits(images), atol=1e-4)  # 30 images in one batch
    if fmt == "onnx":
        assert exported.model.fixed_batch != dynamic


def test_verify_catches_a_model_that_disagrees(trained_run):
    run, root = trained_run
    reference = load_model(run)
    images, _, _ = reference.decode(expand_images([root / "data" / "test"]))
    shifted = torch.nn.Sequential(reference.model, torch.nn.Identity())
    shifted.register_forward_hook(lambda module, inputs, output: output + torch.tensor([0.0, 0.0, 1e-3]))
    off = LoadedModel(shifted, reference.record, {}, run)
    check = verify(reference, off, images)
    assert not check.passed and check.max_abs_diff == pytest.approx(1e-3, rel=1e-3)
    assert verify(reference, reference, images).passed


@pytest.mark.parametrize("opset", [0, 17, 999])
def test_an_opset_the_exporter_cannot_write_is_refused_before_anything_is_written(trained_run, tmp_path, opset):
    run, _ = trained_run
    with pytest.raises(CnnlabError, match=f"`opset` must be between 18 .* got {opset}"):
        export_model(run, "onnx", tmp_path / "model.onnx", opset=opset)
    assert not list(tmp_path.iterdir())


def test_a_run_whose_data_cannot_be_read_here_is_checked_on_random_images_and_says_so(trained_run, tmp_path,
                                                                                      monkeypatch):
    from cnnlab import events
    from cnnlab.errors import SettingError

    def moved(self, *args, **kwargs):
        raise SettingError("data", "'photos' is neither a dataset nor an image folder")

    notes = []
    monkeypatch.setattr(LoadedModel, "dataset", moved)
    monkeypatch.setattr(events, "note", lambda text, warning=False: notes.append((text, warning)))
    info = export_model(trained_run[0], "onnx", tmp_path / "model.onnx")
    assert info["verification"]["passed"] and info["verification"]["images"] > 0
    assert len(notes) == 1 and notes[0][1] and "seeded random images" in notes[0][0] and "photos" in notes[0][0]
