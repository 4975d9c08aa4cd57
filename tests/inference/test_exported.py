"""load_exported on files that are not what they say: every way an exported model or its JSON can be wrong is one
CnnlabError naming the file and what is wrong, never a traceback from torch.jit, ONNX Runtime or json."""

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.inference.export import export_model
from cnnlab.inference.exported import load_any, load_exported, metadata_path

NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}


@pytest.fixture(scope="module", name="exports")
def exports_fixture(trained_run, tmp_path_factory) -> dict[str, Path]:
    """The trained run exported once in each format: format → the model file (its JSON beside it)."""
    folder = tmp_path_factory.mktemp("exports")
    return {fmt: Path(export_model(trained_run[0], fmt, folder / name, dynamic_batch=fmt == "onnx")["file"])
            for fmt, name in NAMES.items()}


def copy_of(exports: dict[str, Path], fmt: str, folder: Path) -> Path:
    """A fresh copy of one export (model file and JSON) in `folder`, to spoil."""
    source = exports[fmt]
    target = folder / source.name
    shutil.copy(source, target)
    shutil.copy(metadata_path(source), metadata_path(target))
    return target


def refused(path: Path) -> str:
    """The one-line message load_exported (and load_any) raise for `path`."""
    with pytest.raises(CnnlabError) as caught:
        load_exported(path)
    with pytest.raises(CnnlabError):
        load_any(path)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def not_torchscript_zip() -> bytes:
    """A zip archive holding a text file: the container TorchScript uses, without its contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/readme.txt", "not a model")
    return buffer.getvalue()


def a_state_dict() -> bytes:
    """What torch.save writes: a zip with a pickle, not TorchScript."""
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("contents", [os.urandom(4096), b"", not_torchscript_zip(), a_state_dict()],
                         ids=["random bytes", "empty", "a zip of something else", "a state dict"])
def test_a_fake_torchscript_file_is_one_error_naming_it(exports, tmp_path, contents):
    path = copy_of(exports, "torchscript", tmp_path)
    path.write_bytes(contents)
    message = refused(path)
    assert message.startswith(f"{path}: not a TorchScript model (")


@pytest.mark.parametrize("contents", [os.urandom(4096), b"", not_torchscript_zip(), b"ONNX? no."],
                         ids=["random bytes", "empty", "a zip", "text"])
def test_a_fake_onnx_file_is_one_error_naming_it(exports, tmp_path, contents):
    path = copy_of(exports, "onnx", tmp_path)
    path.write_bytes(contents)
    assert refused(path).startswith(f"{path}: not an ONNX model ONNX Runtime can run (")


def test_each_kind_of_model_file_under_the_others_name_is_refused(exports, tmp_path):
    onnx_named_torchscript = copy_of(exports, "torchscript", tmp_path)
    onnx_named_torchscript.write_bytes(exports["onnx"].read_bytes())
    assert "not a TorchScript model" in refused(onnx_named_torchscript)
    (tmp_path / "b").mkdir()
    torchscript_named_onnx = copy_of(exports, "onnx", tmp_path / "b")
    torchscript_named_onnx.write_bytes(exports["torchscript"].read_bytes())
    assert "not an ONNX model" in refused(torchscript_named_onnx)


def spoil_json(path: Path, change) -> Path:
    """The JSON beside `path` rewritten by `change(meta)` (which may return bytes or text to write instead)."""
    where = metadata_path(path)
    meta = json.loads(where.read_text())
    written = change(meta)
    if isinstance(written, bytes):
        where.write_bytes(written)
    elif isinstance(written, str):
        where.write_text(written)
    else:
        where.write_text(json.dumps(meta))
    return where


def drop(*keys):
    """A change that removes a key of the model record."""
    def change(meta):
        for key in keys:
            meta["model"].pop(key)
    return change


def set_record(key, value):
    """A change that sets one key of the model record."""
    def change(meta):
        meta["model"][key] = value
    return change


JSON_CASES = {
    "not JSON": (lambda meta: '{"format": "onnx", ', "not valid JSON ("),
    "not text": (lambda meta: b"\xff\xfe\x00garbage\x80", "not text"),
    "a list": (lambda meta: "[1, 2, 3]", "a JSON list, not an object"),
    "no format": (lambda meta: meta.pop("format") and None, "no format (expected one of: onnx, torchscript)"),
    "an unknown format": (lambda meta: meta.update(format="keras"), "unknown format 'keras'"),
    "no classes": (drop("classes"), "not a model record (KeyError: 'classes')"),
    "no input shape": (drop("input_shape"), "not a model record (KeyError: 'input_shape')"),
    "a bad input shape": (set_record("input_shape", [3, 32]), "input_shape [3, 32] is not"),
    "two channels": (set_record("input_shape", [2, 32, 32]), "input_shape [2, 32, 32] is not"),
    "a word for a size": (set_record("input_shape", [3, "big", 32]), "not a model record (ValueError"),
    "empty classes": (set_record("classes", []), "no classes"),
    "a zero std": (set_record("std", [0.2, 0.0, 0.2]), "std above 0"),
    "two means for three channels": (set_record("mean", [0.5, 0.5]), "mean and std need 1 or 3 values"),
    "classes the model does not give": (set_record("classes", ["a", "b", "c", "d", "e"]),
                                        "gives (1, 3) for one 3x32x32 image where its record's 5 classes need (1, 5)"),
    "an input the model does not take": (lambda meta: meta["model"].update(input_shape=[1, 32, 32], mean=[0.5],
                                                                           std=[0.25]),
                                         "does not run on one 1x32x32 image, the input its record names ("),
}


@pytest.mark.parametrize("fmt", list(NAMES))
@pytest.mark.parametrize("case", list(JSON_CASES))
def test_metadata_that_is_wrong_is_one_error_naming_the_file(exports, tmp_path, fmt, case):
    change, words = JSON_CASES[case]
    path = copy_of(exports, fmt, tmp_path)
    where = spoil_json(path, change)
    message = refused(path)
    named = path if case.startswith(("classes the model", "an input the model")) else where
    assert message.startswith(f"{named}: ") and words in message


def test_a_good_export_still_loads(exports):
    for fmt, path in exports.items():
        loaded = load_exported(path)
        assert loaded.exported == fmt and loaded.classes == ["blue", "green", "red"]
