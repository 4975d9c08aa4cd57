"""`cnnlab export` as a user runs it: the check it prints, predict reading the export, and one-line mistakes."""

import json

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.inference.exported import load_exported
from cnnlab.inference.loaded import load_model
from cnnlab.inference.predict import predict_files


def test_cli_export_prints_the_check_and_predict_reads_the_export(trained_run, tmp_path, cli):
    run, root = trained_run
    out = tmp_path / "colours.onnx"
    code, _, stderr = cli("export", str(run), "--format", "onnx", "--dynamic-batch", "--out", str(out))
    assert code in (0, None), stderr
    assert f"wrote {out}" in stderr and "top-1 agrees on 30/30" in stderr and out.stat().st_size > 0
    image = root / "data" / "test" / "green" / "003.png"
    code, stdout, _ = cli("predict", str(out), str(image), "--json")
    exported_top = json.loads(stdout)["predictions"][0]["top"]
    run_top = predict_files(load_model(run), [image])[0][0]["top"]
    assert exported_top[0]["class"] == "green"
    assert [g["class"] for g in exported_top] == [g["class"] for g in run_top]
    assert all(abs(a["probability"] - b["probability"]) < 1e-4 for a, b in zip(exported_top, run_top))


def test_export_mistakes_are_one_line_errors(trained_run, tmp_path, cli):
    run, _ = trained_run
    code, _, stderr = cli("export", str(run), "--format", "tflite")
    assert code == 2 and "error: --format 'tflite' is not one of: onnx, torchscript" in stderr
    code, _, stderr = cli("export", str(run), "--format", "torchscript", "--opset", "17")
    assert code == 2 and "--opset applies to ONNX only" in stderr
    (tmp_path / "stray.onnx").write_bytes(b"not a model")
    with pytest.raises(CnnlabError, match="not an exported model"):
        load_exported(tmp_path / "stray.onnx")
