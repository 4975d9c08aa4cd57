"""Evaluate a trained run on a dataset: top-1/top-5, per-class metrics, confusion matrix, top losses, calibration
(ECE, NLL, Brier, reliability diagram) and the accuracy/coverage curve; for a multi-label run, per-label average
precision, mAP and F1 at the tuned thresholds."""

import json
import math
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab.data.dataset import Dataset
from cnnlab.data.loader import batch_source
from cnnlab.evaluation.calibration import calibration_metrics, expected_calibration_error, reliability
from cnnlab.evaluation.coverage import coverage_curve
from cnnlab.evaluation.metrics import class_report, most_confused
from cnnlab.evaluation.multilabel import DEFAULT_THRESHOLD, label_report
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.settings.sections import READERS, check_value
from cnnlab.viz.plots import (save_confusion_matrix, save_coverage_curve, save_image_grid,
                              save_reliability_diagram)


def logits_and_worst(
    loaded: LoadedModel, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], count: int, tta: str = "none",
    calibrated: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[float, int, torch.Tensor]]]:
    """Logits (averaged over the `tta` views; divided by the model's temperature unless `calibrated` is False) and
    labels over uint8 batches, and the `count` worst (loss, index, image), worst first."""
    all_logits, all_labels, worst, seen = [], [], [], 0
    for images, labels in batches:
        logits = loaded.logits(images, tta=tta, calibrated=calibrated)
        losses = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none").mean(1) \
            if loaded.record.multi_label else F.cross_entropy(logits, labels, reduction="none")
        top = losses.topk(min(count, len(losses))).indices.tolist()
        worst = sorted(worst + [(losses[i].item(), seen + i, images[i].clone()) for i in top], key=lambda w: -w[0])[:count]
        all_logits.append(logits)
        all_labels.append(labels)
        seen += len(labels)
    return torch.cat(all_logits), torch.cat(all_labels), worst


def evaluate_run(
    run: str | Path, data: str | None = None, data_dir: str | None = None, out: str | Path | None = None,
    top_losses: int = 24, workers: int = READERS, tta: str = "none", split: str | None = None,
) -> dict:
    """Metrics of a run's model on its own evaluation split (or on `data`), with PNG and JSON files in `out`;
    `tta` (none, flip, shift) averages the logits over test-time views as training's last epoch does; `split` (val,
    test) picks one where the run has both (default: test)."""
    check_value("tta", tta)
    loaded = load_model(run)
    return evaluate_on(loaded, loaded.dataset(data, data_dir), out, top_losses, workers, tta, split)


def evaluate_on(
    loaded: LoadedModel, dataset: Dataset, out: str | Path | None = None, top_losses: int = 24, workers: int = READERS,
    tta: str = "none", split: str | None = None,
) -> dict:
    """Metrics of a loaded model on a dataset's test split (or `split`: see Dataset.split), with PNG and JSON files
    in `out` (default: RUN/eval): a classifier's (class_metrics) or a multi-label model's (label_metrics)."""
    split, images = dataset.split(split)
    logits, labels, worst = logits_and_worst(loaded, batch_source(images, 256, workers=workers), top_losses, tta)
    out = Path(out) if out else loaded.home / "eval"
    out.mkdir(parents=True, exist_ok=True)
    measure = label_metrics if loaded.record.multi_label else class_metrics
    metrics, files = measure(loaded, logits, labels, worst, out, f"{dataset.name} {split}", images is dataset.val)
    result = {
        "checkpoint": str(loaded.path),
        "data": dataset.name,
        "split": split,
        "images": len(labels),
        "tta": tta,
        **metrics,
        "skipped": [{"file": path, "reason": reason} for path, reason in dataset.skipped],
        "files": {**files, "metrics_json": str(out / "metrics.json")},
    }
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


Worst = list[tuple[float, int, torch.Tensor]]


def class_metrics(loaded: LoadedModel, logits: torch.Tensor, labels: torch.Tensor, worst: Worst, out: Path,
                  title: str, _on_val: bool) -> tuple[dict, dict]:
    """A classifier's metrics and files: accuracy, per class, calibration (ECE, NLL, Brier, reliability diagram),
    the accuracy/coverage curve of abstaining below a confidence, the confusion matrix and the top losses."""
    report = class_report(logits, labels)
    probabilities = logits.double().softmax(1)
    bins = reliability(probabilities, labels)
    coverage = coverage_curve(probabilities, labels)
    predicted = logits.argmax(1)
    captions = [
        f"{loaded.classes[labels[i]]}→{loaded.classes[predicted[i]]}\nloss {loss:.2f}" for loss, i, _ in worst
    ]
    metrics = {
        "top1": report.accuracy,
        "top5": report.top5,
        "balanced_accuracy": report.balanced_accuracy,
        **calibration_metrics(logits, labels),
        "temperature": loaded.record.temperature,
        "reliability": vars(bins),
        "coverage": coverage,
        "per_class": {
            name: {"precision": p, "recall": r, "f1": f, "support": s}
            for name, p, r, f, s in zip(loaded.classes, report.precision, report.recall, report.f1, report.support)
        },
        "most_confused": [{"true": t, "predicted": p, "count": n} for t, p, n in most_confused(report.confusion, loaded.classes)],
    }
    (out / "confusion_matrix.json").write_text(json.dumps({"classes": loaded.classes, "matrix": report.confusion}) + "\n")
    files = {
        "confusion_matrix_png": str(save_confusion_matrix(report.confusion, loaded.classes, out / "confusion_matrix.png",
                                                          f"{title}: top-1 {report.accuracy:.2%}")),
        "top_losses_png": str(save_image_grid(torch.stack([image for _, _, image in worst]), captions, out / "top_losses.png",
                                              "top losses (true→predicted)")),
        "reliability_png": str(save_reliability_diagram(
            bins.edges, bins.counts, bins.confidence, bins.accuracy, out / "reliability.png",
            f"{title}: ECE {expected_calibration_error(probabilities, labels):.2%}, "
            f"temperature {loaded.record.temperature:.3g}")),
        "coverage_png": str(save_coverage_curve([r["coverage"] for r in coverage], [r["accuracy"] for r in coverage],
                                                [r["min_confidence"] for r in coverage], out / "coverage.png",
                                                f"{title}: abstaining below a confidence")),
        "confusion_matrix_json": str(out / "confusion_matrix.json"),
    }
    return metrics, files


def label_metrics(loaded: LoadedModel, logits: torch.Tensor, labels: torch.Tensor, worst: Worst, out: Path,
                  _title: str, on_val: bool) -> tuple[dict, dict]:
    """A multi-label model's metrics and files: per-label average precision, mAP, precision, recall and F1 at the
    record's per-label thresholds (tuned on the validation split during training) and at 0.5, their micro and macro
    means, exact-match and per-label accuracy, and the top losses."""
    probabilities = loaded.probabilities(logits.double())
    thresholds = torch.tensor(loaded.record.label_thresholds())
    report = label_report(probabilities, labels, thresholds)
    at_half = label_report(probabilities, labels, torch.full_like(thresholds, DEFAULT_THRESHOLD))
    names = loaded.classes

    def shown(row: torch.Tensor) -> str:
        return ", ".join(names[i] for i in row.nonzero().flatten().tolist()) or "none"

    captions = [f"true {shown(labels[i])}\nanswered {shown(probabilities[i] >= thresholds)}\nloss {loss:.2f}"
                for loss, i, _ in worst]
    metrics = {
        "multi_label": True,
        "map": report.map,
        "micro_f1": report.micro_f1,
        "macro_f1": report.macro_f1,
        "exact_match": report.exact_match,
        "label_accuracy": report.label_accuracy,
        "thresholds": "tuned" if loaded.record.thresholds is not None else "0.5 (none tuned)",
        "thresholds_tuned_on_this_split": loaded.record.thresholds is not None and on_val,
        "at_0.5": {"micro_f1": at_half.micro_f1, "macro_f1": at_half.macro_f1, "exact_match": at_half.exact_match},
        "per_label": {
            name: {"average_precision": ap if math.isfinite(ap) else None, "threshold": t, "precision": p, "recall": r,
                   "f1": f, "support": n}
            for name, ap, t, p, r, f, n in zip(names, report.average_precision, report.thresholds, report.precision,
                                               report.recall, report.f1, report.support)
        },
    }
    files = {"top_losses_png": str(save_image_grid(torch.stack([image for _, _, image in worst]), captions,
                                                   out / "top_losses.png", "top losses (true, answered)"))}
    return metrics, files
