"""Evaluate a trained run on a dataset: top-1/top-5, per-class metrics, confusion matrix and the top losses."""

import json
from pathlib import Path

import torch.nn.functional as F

from cnnlab.analysis.metrics import class_report, most_confused
from cnnlab.data.datasets import load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.inference import load_model
from cnnlab.viz.plots import save_confusion_matrix, save_image_grid


def evaluate(
    run: str | Path, data: str | None = None, data_dir: str | None = None, out: str | Path | None = None, top_losses: int = 24
) -> dict:
    """Metrics of a run's model on its own evaluation split (or on `data`), with PNG and JSON files in `out`."""
    loaded = load_model(run)
    train = loaded.meta.get("train", {})
    source = data or train.get("data")
    if source is None:
        raise CnnlabError("this checkpoint does not name its dataset: pass --data")
    channels, height, width = loaded.input_shape
    dataset = load_dataset(source, data_dir=data_dir or (None if data else train.get("data_dir")),
                           val_split=train.get("val_split", 0.1), seed=train.get("seed", 0),
                           channels=channels, size=(height, width))
    if dataset.classes != loaded.classes:
        raise CnnlabError(f"the data's classes {dataset.classes[:5]}... differ from the model's {loaded.classes[:5]}...")
    images, labels = dataset.val.images, dataset.val.labels
    logits = loaded.logits(images)
    report = class_report(logits, labels)
    out = Path(out) if out else loaded.path.parent.parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    losses = F.cross_entropy(logits, labels, reduction="none")
    worst = losses.argsort(descending=True)[:top_losses]
    predicted = logits.argmax(1)
    captions = [
        f"{loaded.classes[labels[i]]}→{loaded.classes[predicted[i]]}\nloss {losses[i]:.2f}" for i in worst.tolist()
    ]
    result = {
        "run": str(run),
        "data": source,
        "images": len(labels),
        "top1": report.accuracy,
        "top5": report.top5,
        "balanced_accuracy": report.balanced_accuracy,
        "per_class": {
            name: {"precision": p, "recall": r, "f1": f, "support": s}
            for name, p, r, f, s in zip(loaded.classes, report.precision, report.recall, report.f1, report.support)
        },
        "most_confused": [{"true": t, "predicted": p, "count": n} for t, p, n in most_confused(report.confusion, loaded.classes)],
        "files": {
            "confusion_matrix_png": str(save_confusion_matrix(report.confusion, loaded.classes, out / "confusion_matrix.png",
                                                              f"{source}: top-1 {report.accuracy:.2%}")),
            "top_losses_png": str(save_image_grid(images[worst], captions, out / "top_losses.png",
                                                  "top losses (true→predicted)")),
            "confusion_matrix_json": str(out / "confusion_matrix.json"),
            "metrics_json": str(out / "metrics.json"),
        },
    }
    (out / "confusion_matrix.json").write_text(json.dumps({"classes": loaded.classes, "matrix": report.confusion}) + "\n")
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
