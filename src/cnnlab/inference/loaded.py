"""A trained model back from a run directory, a checkpoint or an export, with its own preprocessing, ready to use."""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab import events
from cnnlab.data.dataset import Dataset
from cnnlab.data.decode import decode_files
from cnnlab.data.holdout import hold_out
from cnnlab.data.labels import label_file
from cnnlab.data.loader import normalize
from cnnlab.data.sources import load_dataset
from cnnlab.data.tta import tta_logits
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.models import create_model, model_info
from cnnlab.models.pretrained import download_state, torchvision_weights
from cnnlab.models.state import load_state
from cnnlab.run.checkpoint import checkpoint_path, load_checkpoint, read_record, read_settings
from cnnlab.run.record import ModelRecord
from cnnlab.settings import Settings


@dataclass
class LoadedModel:
    """A model in eval mode with the record of what it is (classes, input, preprocessing), the metadata it came with
    (epoch, metrics, settings), the file it came from and, for an exported model, its format (onnx, torchscript)."""

    model: nn.Module
    record: ModelRecord
    meta: dict
    path: Path
    exported: str | None = None

    @property
    def home(self) -> Path:
        """Where its outputs (eval/, viz/, export/) go by default: the run directory of a checkpoint, a folder named
        after a zoo model that was loaded by its name."""
        return self.path.parent.parent if self.path.suffix else self.path

    @property
    def classes(self) -> list[str]:
        """The class names, in the order of the logits."""
        return list(self.record.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) the model takes."""
        return self.record.input_shape

    @property
    def settings(self) -> Settings | None:
        """The settings it was trained with, when it came from a cnnlab run."""
        return read_settings(self.meta, str(self.path)) if "settings" in self.meta or "train" in self.meta else None

    def dataset(self, data: str | None = None, data_dir: str | None = None) -> Dataset:
        """The run's own dataset (or `data`) decoded as the model takes it, with the validation images it held out
        of its training images (`holdout`, `fold`) held out again."""
        trained = self.settings.data if self.settings is not None else None
        source = data or (trained.data if trained else None)
        if source is None:
            raise SettingError("data", "is needed: this model does not name its dataset")
        own = trained is not None and data in (None, trained.data)
        dataset = load_dataset(source, data_dir=data_dir or (trained.data_dir if own else None),
                               val_split=trained.val_split if own else None,
                               seed=self.settings.run.seed if own else 0, channels=self.record.in_chans,
                               size=self.record.image_size, stream=trained.stream if own else None,
                               labels=label_file(trained) if own else None)
        if own:
            dataset = hold_out(dataset, trained.holdout, trained.fold, self.settings.run.seed)
        if dataset.classes != self.classes:
            raise CnnlabError(f"the data's classes {dataset.classes[:5]}... differ from the model's "
                              f"{self.classes[:5]}...")
        if dataset.multi_label != self.record.multi_label:
            kind = {True: "multi-label (several labels per image)", False: "single-label (one class per image)"}
            raise CnnlabError(f"the data is {kind[dataset.multi_label]}, the model {kind[self.record.multi_label]}")
        events.emit(events.DataReady(dataset.name, len(dataset.train), len(dataset.val), len(dataset.classes),
                                     dataset.input_shape, dataset.skipped, dataset.multi_label))
        return dataset

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) → the normalised float batch the model takes."""
        return normalize(images.float(), self.record.mean, self.record.std)

    def decode(self, files: list[Path]) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
        """Image files as the model takes them (channels, size): uint8 images, indices kept, files skipped."""
        return decode_files(files, channels=self.record.in_chans, size=self.record.image_size)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, batch_size: int = 256, tta: str = "none", calibrated: bool = True
               ) -> torch.Tensor:
        """Logits of uint8 images, in batches, divided by the record's temperature (unless `calibrated` is False);
        with `tta` the weighted mean over the test-time views. An exported model's graph divides by it already
        (export.py builds it in)."""
        batches = (self.preprocess(images[i : i + batch_size]) for i in range(0, len(images), batch_size))
        parts = [tta_logits(self.model, batch, tta) for batch in batches]
        logits = torch.cat(parts) if parts else torch.empty(0, self.record.num_classes)
        temperature = self.record.temperature
        if self.exported:
            return logits if calibrated else logits * temperature
        return logits / temperature if calibrated else logits


    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from the model's logits: a softmax over the classes, or for a multi-label model each
        label's own sigmoid."""
        return logits.sigmoid() if self.record.multi_label else logits.softmax(1)


def build_model(record: ModelRecord) -> nn.Module:
    """A freshly initialised model of the record's architecture, classes and input channels."""
    return create_model(record.architecture, num_classes=record.num_classes, in_chans=record.in_chans)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a trained model (architecture, classes, mean/std) from a run directory or checkpoint file; or a zoo
    model named instead (`efficientnet_lite0`) with its ImageNet weights."""
    if not Path(path).exists() and has_imagenet_weights(str(path)):
        return pretrained_model(str(path), device)
    file = checkpoint_path(path)
    sections, _, meta = load_checkpoint(file)
    record = read_record(meta, str(file))
    if "model" not in sections:
        raise CnnlabError(f"{file}: holds no model weights")
    model = build_model(record)
    load_state(model, sections["model"], str(file))
    model.to(device).eval()
    return LoadedModel(model, record, meta, file)


def has_imagenet_weights(name: str) -> bool:
    """Whether a name is a zoo model (without variants) that has ImageNet weights."""
    try:
        return model_info(name).weights is not None
    except CnnlabError:
        return False


def pretrained_model(name: str, device: str | torch.device = "cpu") -> LoadedModel:
    """A zoo model with its ImageNet weights, ready as a trained run is: its 1,000 classes, its input and
    preprocessing from the weights' description."""
    weights = torchvision_weights(name, "imagenet")
    model = create_model(name)
    load_state(model, download_state(weights), f"{name}'s {type(weights).__name__}.{weights.name}")
    transform = weights.transforms()
    size = transform.crop_size[0]
    record = ModelRecord(name, tuple(weights.meta["categories"]), (3, size, size), tuple(transform.mean),
                         tuple(transform.std), f"{type(weights).__name__}.{weights.name}")
    metrics = dict(weights.meta.get("_metrics", {}).get("ImageNet-1K", {}))
    return LoadedModel(model.to(device).eval(), record, {"metrics": metrics}, Path(name))
