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


def test_a_multi_label_run_is_evaluated_per_label_on_its_test_split(labelled_run, tmp_path):
    run, _, _ = labelled_run
    result = evaluate(run, out=tmp_path)
    assert result["multi_label"] and result["split"] == "test" and result["images"] == 80
    assert result["map"] > 0.9 and result["micro_f1"] > 0.85  # chance: about 0.5 and 0.67 (every label answered)
    assert not result["thresholds_tuned_on_this_split"]  # tuned on the held-out validation images
    per_label = result["per_label"]
    thresholds = load_model(run).record.thresholds
    assert [m["threshold"] for m in per_label.values()] == pytest.approx(list(thresholds))
    assert result["macro_f1"] == pytest.approx(sum(m["f1"] for m in per_label.values()) / 3)
    assert json.loads((tmp_path / "metrics.json").read_text())["map"] == result["map"]
    validation = evaluate(run, out=tmp_path, split="val")
    assert validation["thresholds_tuned_on_this_split"]
