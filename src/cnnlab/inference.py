"""A trained model back from a run directory or checkpoint, with its own preprocessing, ready to predict."""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.checkpoint import checkpoint_path, load_checkpoint
from cnnlab.data.decode import decode_files, is_image_path
from cnnlab.data.loader import normalize
from cnnlab.data.tta import tta_logits
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model


@dataclass
class LoadedModel:
    """A model in eval mode with the classes and preprocessing it was trained with."""

    model: nn.Module
    classes: list[str]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    meta: dict
    path: Path

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) → the normalised float batch the model takes."""
        return normalize(images.float(), self.mean, self.std)

    @property
    def image_size(self) -> int | tuple[int, int]:
        """The size images are decoded to for this model: one side when square, else (height, width)."""
        _, height, width = self.input_shape
        return height if height == width else (height, width)

    def decode(self, files: list[Path]) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
        """Image files as the model takes them (channels, size): uint8 images, indices kept, files skipped."""
        return decode_files(files, channels=self.input_shape[0], size=self.image_size)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, batch_size: int = 256, tta: str = "none") -> torch.Tensor:
        """Logits of uint8 images, in batches; with `tta` the weighted mean over the test-time views."""
        batches = (self.preprocess(images[i : i + batch_size]) for i in range(0, len(images), batch_size))
        parts = [tta_logits(self.model, batch, tta) for batch in batches]
        return torch.cat(parts) if parts else torch.empty(0, len(self.classes))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a trained model (architecture, classes, mean/std) from a run directory or checkpoint file."""
    file = checkpoint_path(path)
    sections, _, meta = load_checkpoint(file)
    record = meta["model"]
    model = create_model(record["model"], num_classes=record["num_classes"], in_chans=record["in_chans"])
    model.load_state_dict(sections["model"])
    model.to(device).eval()
    return LoadedModel(
        model, record["classes"], tuple(record["input_shape"]), tuple(record["mean"]), tuple(record["std"]), meta, file
    )


def expand_images(paths: list[str | Path]) -> list[Path]:
    """Image files named directly or found (recursively, sorted) in the folders named."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p)))
        elif path.exists():
            files.append(path)
        else:
            raise CnnlabError(f"{path}: no such file or folder")
    if not files:
        raise CnnlabError("no image files to predict")
    return files


def predict_files(
    loaded: LoadedModel, paths: list[str | Path], top: int = 5
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Top-k classes with probabilities per image (any format or size), and the files that could not be read."""
    files = expand_images(paths)
    images, kept, skipped = loaded.decode(files)
    probabilities = loaded.logits(images).softmax(1) if kept else torch.empty(0)
    results = [{"file": str(files[index]), "top": top_k(row, loaded.classes, top)}
               for row, index in zip(probabilities, kept)]
    return results, skipped


def top_k(probabilities: torch.Tensor, classes: list[str], k: int) -> list[dict]:
    """The k most probable classes of one image, most probable first."""
    values, indices = probabilities.topk(min(k, len(classes)))
    return [{"class": classes[i], "probability": round(v, 6)} for v, i in zip(values.tolist(), indices.tolist())]
