"""`evaluate` and `predict` on a run trained here: metrics, files, any image format, and the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.evaluation.evaluate import evaluate_run as evaluate
from cnnlab.inference.loaded import load_model
from cnnlab.inference.predict import predict_files

from conftest import COLOURS


def test_evaluate_reports_metrics_and_writes_files(trained_run):
    run, root = trained_run
    result = evaluate(run, out=root / "eval")
    assert result["images"] == 30 and result["top1"] > 0.9
    assert result["top5"] == 1.0  # three classes: the label is always among the top 5
    assert set(result["per_class"]) == set(COLOURS)
    assert sum(m["support"] for m in result["per_class"].values()) == 30
    matrix = json.loads((root / "eval" / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 30
    assert sum(matrix[i][i] for i in range(3)) == round(result["top1"] * 30)
    for key in ("confusion_matrix_png", "top_losses_png"):
        assert open(result["files"][key], "rb").read(4) == b"\x89PNG"


def test_evaluate_averages_the_test_time_views(trained_run):
    run, root = trained_run
    loaded = load_model(run)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mirrored = (loaded.logits(images) + loaded.logits(images.flip(3))) / 2
    assert torch.allclose(loaded.logits(images, tta="flip"), mirrored, atol=1e-5)
    assert not torch.allclose(loaded.logits(images, tta="shift"), mirrored, atol=1e-5)
    result = evaluate(run, out=root / "eval-tta", tta="shift")
    assert result["tta"] == "shift" and result["images"] == 30
    with pytest.raises(CnnlabError, match="`tta` 'sideways' is not one of: none, flip, shift"):
        evaluate(run, tta="sideways")


def test_predict_any_format_and_size(trained_run, tmp_path):
    run, _ = trained_run
    loaded = load_model(run)
    red = np.zeros((90, 140, 3), np.uint8)
    red[..., 0] = 220
    Image.fromarray(red).save(tmp_path / "big_red.jpg")
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 220, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "blue_rgba.png")
    Image.fromarray(np.full((32, 32), 128, np.uint8), "L").save(tmp_path / "grey.png")
    (tmp_path / "notes.jpg").write_text("no image")
    results, skipped = predict_files(loaded, [tmp_path], top=2)
    by_name = {r["file"].split("/")[-1]: r["top"] for r in results}
    assert by_name["big_red.jpg"][0]["class"] == "red"
    assert by_name["blue_rgba.png"][0]["class"] == "blue"
    assert len(by_name["grey.png"]) == 2
    assert abs(sum(g["probability"] for g in by_name["big_red.jpg"]) - 1) < 0.5
    assert [p.split("/")[-1] for p, _ in skipped] == ["notes.jpg"]


def test_cli_predict_json_and_csv(trained_run):
    run, root = trained_run
    image = root / "data" / "test" / "green" / "000.png"
    out = subprocess.run([sys.executable, "-m", "cnnlab", "predict", str(run), str(image), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["predictions"][0]["top"][0]["class"] == "green"
    out = subprocess.run([sys.executable, "-m", "cnnlab", "predict", str(run), str(image), "--csv", "--top", "2"],
                         capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "file,rank,class,probability" and len(lines) == 3


def test_cli_evaluate_missing_run_is_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnnlab", "evaluate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert out.returncode == 2
    assert "no such run directory" in out.stderr and "Traceback" not in out.stderr


def test_cli_train_bad_choice_lists_allowed_values(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnnlab", "train", "--optimizer", "rmsprop", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "sgd, adam, adamw" in out.stderr and "Traceback" not in out.stderr
