"""Predictions for image files: the top classes of each, through the model's own preprocessing."""

from pathlib import Path

import torch

from cnnlab.data.decode import is_image_path, shown
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.inference.loaded import LoadedModel


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


def predict_files(
    loaded: LoadedModel, paths: list[str | Path], top: int = 5
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Top-k classes with probabilities per image (any format or size), and the files that could not be read."""
    if top < 1:
        raise SettingError("top", f"must be at least 1, got {top}")
    files = expand_images(paths)
    images, kept, skipped = loaded.decode(files)
    probabilities = loaded.logits(images).softmax(1) if kept else torch.empty(0)
    results = [{"file": shown(files[index]), "top": top_k(row, loaded.classes, top)}
               for row, index in zip(probabilities, kept)]
    return results, skipped


def top_k(probabilities: torch.Tensor, classes: list[str], k: int) -> list[dict]:
    """The k most probable classes of one image, most probable first."""
    values, indices = probabilities.topk(min(k, len(classes)))
    return [{"class": classes[i], "probability": round(v, 6)} for v, i in zip(values.tolist(), indices.tolist())]
