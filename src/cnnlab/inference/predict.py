"""Predictions for image files: the top classes of each (or, for a multi-label model, the labels above their
thresholds), through the model's own preprocessing."""

from pathlib import Path

import torch

from cnnlab.data.decode import is_image_path, shown
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.inference.loaded import LoadedModel
from cnnlab.run.record import ModelRecord


def expand_images(paths: list[str | Path]) -> list[Path]:
    """Image files named directly or found (recursively, sorted) in the folders named."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p)))
        elif path.exists():
            files.append(path)
        else:
            raise CnnlabError(f"{shown(path)}: no such file or folder")
    if not files:
        raise CnnlabError("no image files to predict")
    return files


UNSURE = "unsure"  # the answer when the top probability is below the minimum confidence
NO_LABEL = "none"  # a multi-label model's answer when no label reaches its threshold


def predict_files(
    loaded: LoadedModel, paths: list[str | Path], top: int = 5, min_confidence: float = 0.0
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Top-k classes with probabilities per image (any format or size), and the files that could not be read; each
    image's `answer` is its top class, or "unsure" when that class's probability is below `min_confidence`."""
    if top < 1:
        raise SettingError("top", f"must be at least 1, got {top}")
    check_confidence(min_confidence, loaded.record)
    files = expand_images(paths)
    images, kept, skipped = loaded.decode(files)
    probabilities = loaded.probabilities(loaded.logits(images)) if kept else torch.empty(0)
    results = [{"file": shown(files[index]), **answer}
               for answer, index in zip(answers_of(loaded.record, probabilities, top, min_confidence), kept)]
    return results, skipped


def answers_of(record: ModelRecord, probabilities: torch.Tensor, k: int, min_confidence: float = 0.0) -> list[dict]:
    """Each image's answer from its row of probabilities, as the model's kind says: its top class ("unsure" when
    that class's probability is below `min_confidence`) and its top k classes (the batch's taken at once, which a
    server pays per request, not per image); or the labels of a multi-label model (see `answered_labels`)."""
    classes = list(record.classes)
    if record.multi_label:
        return [answered_labels(row, classes, record.label_thresholds(), k) for row in probabilities]
    if not len(probabilities):
        return []
    values, indices = probabilities.topk(min(k, len(classes)), dim=1)
    return [{"answer": classes[ranks[0]] if row[0] >= min_confidence else UNSURE,
             "top": [{"class": classes[i], "probability": round(v, 6)} for v, i in zip(row, ranks)]}
            for row, ranks in zip(values.tolist(), indices.tolist())]


def answered_labels(probabilities: torch.Tensor, classes: list[str], thresholds: tuple[float, ...], k: int) -> dict:
    """A multi-label image's answer: every label whose probability is at least its threshold (most probable first;
    `answer` names them, or says none), and its top k labels by probability."""
    ranked = top_k(probabilities, classes, len(classes))
    index = {name: i for i, name in enumerate(classes)}
    labels = [guess for guess in ranked if guess["probability"] >= thresholds[index[guess["class"]]]]
    return {"answer": ", ".join(guess["class"] for guess in labels) or NO_LABEL, "labels": labels, "top": ranked[:k]}


def check_confidence(value: float, record: ModelRecord | None = None) -> float:
    """A minimum confidence: a probability, from 0 (always answer) to 1, for a single-label model."""
    if not 0.0 <= value <= 1.0:
        raise SettingError("min_confidence", f"must be between 0 and 1 (a probability), got {value}")
    if value and record is not None and record.multi_label:
        raise SettingError("min_confidence", "applies to single-label models; a multi-label model answers each "
                           "label whose probability is at least that label's threshold (tuned on validation)")
    return value


def top_k(probabilities: torch.Tensor, classes: list[str], k: int) -> list[dict]:
    """The k most probable classes of one image, most probable first."""
    values, indices = probabilities.topk(min(k, len(classes)))
    return [{"class": classes[i], "probability": round(v, 6)} for v, i in zip(values.tolist(), indices.tolist())]
