"""`evaluate_run` on a run trained here: metrics and files, and test-time augmentation."""

import json

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.evaluation.evaluate import evaluate_run as evaluate
from cnnlab.inference.loaded import load_model

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
