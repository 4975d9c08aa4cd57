"""A model laid open for one image at a time, as the explainer page shows it: its layers (shapes and receptive fields
from `summarize`, the same numbers as `cnnlab summary`), every layer's feature maps, the class probabilities, and
for one unit its receptive fields (theoretical and effective) and its arithmetic; the first layer's filters and
Grad-CAM of any class. Everything is plain data; the server turns it into JSON and pictures."""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.analysis.effective_field import gradient_extent, input_gradient
from cnnlab.analysis.summary import Summary, summarize
from cnnlab.analysis.trace import Trace, residual_blocks, trace
from cnnlab.analysis.unit import explain_unit
from cnnlab.data.folder import scan_folder
from cnnlab.data.sources import CIFAR_MEAN, CIFAR_STD, SAMPLE_DIR
from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.models import create_model, model_info
from cnnlab.models.layers import first_conv
from cnnlab.run.record import ModelRecord
from cnnlab.viz.filters import filter_tiles
from cnnlab.viz.gradcam import grad_cam

SAMPLE_CLASSES = 10  # a zoo model explained with random weights gets the embedded sample's CIFAR-10 classes


@dataclass
class Examples:
    """Images (N, C, H, W) uint8 to explain, with their true labels and where they came from."""

    images: torch.Tensor
    labels: list[int]
    names: list[str]


def random_model(name: str) -> LoadedModel:
    """A zoo model with random (its own initial) weights, on its default input, for the sample's ten classes."""
    info = model_info(name)  # a name that is no zoo model is refused here, naming the zoo
    with torch.random.fork_rng():  # the same random weights every time, the caller's generator untouched
        torch.manual_seed(0)
        model = create_model(name, num_classes=SAMPLE_CLASSES)
    classes = tuple(sorted(path.name for path in (SAMPLE_DIR / "test").iterdir() if path.is_dir()))
    channels, height, width = model.default_cfg["input_size"]
    record = ModelRecord(name, classes, (channels, height, width), CIFAR_MEAN[:channels], CIFAR_STD[:channels],
                         "random")
    return LoadedModel(model.eval(), record, {"metrics": {}, "random": True, "family": info.family}, Path(name))


def explained_model(source: str | Path, pretrained: bool = False) -> LoadedModel:
    """A run directory or checkpoint; or a zoo model by name, with random weights (its ImageNet ones if `pretrained`)."""
    if Path(source).exists() or pretrained:
        return load_model(source)
    if Path(str(source)).suffix or "/" in str(source):
        raise CnnlabError(f"{source}: no such run or checkpoint")
    return random_model(str(source))


def example_images(loaded: LoadedModel, per_class: int = 4, limit: int = 60) -> Examples:
    """Up to `per_class` evaluation images of each class from the run's own data (an image folder or the embedded
    sample; a zoo model with random weights: the sample), decoded as the model takes them."""
    settings = loaded.settings
    source = settings.data.data if settings is not None else "sample"
    if settings is not None and settings.data.labels is not None:
        return Examples(torch.empty(0, *loaded.input_shape, dtype=torch.uint8), [], [])
    root = SAMPLE_DIR if source == "sample" else Path(source)
    if not root.is_dir():  # a named dataset (cifar10...): its files are not image files to pick from
        return Examples(torch.empty(0, *loaded.input_shape, dtype=torch.uint8), [], [])
    scan = scan_folder(root, settings.data.val_split if settings else None, settings.run.seed if settings else 0)
    classes, evaluation = scan.classes, scan.val
    chosen: list[int] = []
    for label in range(len(classes)):
        chosen += [i for i, y in enumerate(evaluation.labels) if y == label][:per_class]
    chosen = sorted(chosen)[:limit]
    images, kept, _ = loaded.decode([evaluation.paths[i] for i in chosen])
    own = {name: index for index, name in enumerate(loaded.classes)}
    labels = [own.get(classes[evaluation.labels[chosen[i]]], -1) for i in kept]
    names = [str(evaluation.paths[chosen[i]].relative_to(root)) for i in kept]
    return Examples(images, labels, names)


class Explainer:
    """One model, its layers' geometry worked out once, and the traces of the images it is asked about."""

    def __init__(self, loaded: LoadedModel) -> None:
        """Summarise the model on its input (shapes, receptive fields) and find its layers and residual blocks."""
        if loaded.exported is not None:
            raise CnnlabError("the explainer needs the run's PyTorch model, not an exported one")
        self.loaded = loaded
        self.model: nn.Module = loaded.model.eval()
        self.summary: Summary = summarize(self.model, loaded.input_shape, name=loaded.record.architecture)
        self.blocks = residual_blocks(self.model)
        structure = trace(self.model, torch.zeros(1, *loaded.input_shape))
        if [run.name for run in structure.runs] != [row.name for row in self.summary.layers]:
            raise CnnlabError("the model ran its layers in a different order on a second pass: cannot explain it")
        self._structure = structure

    def layers(self) -> list[dict]:
        """Every layer run: its name, type, output shape, receptive field and stride (as `cnnlab summary` gives them),
        the block it belongs to, whether it is on a shortcut, whose output it takes, whether it gives feature maps."""
        rows = self.summary.to_dict()["layers"]
        return [{**row, "index": run.index, "block": run.block, "shortcut": run.on_shortcut, "producer": run.producer,
                 "maps": run.spatial} for row, run in zip(rows, self._structure.runs)]

    def trace(self, image: torch.Tensor) -> Trace:
        """Every layer's run for one uint8 image (C, H, W)."""
        return trace(self.model, self.loaded.preprocess(image[None]))

    def probabilities(self, traced: Trace) -> list[dict]:
        """Every class with its probability, most likely first."""
        probabilities = traced.logits[0].float().softmax(0)
        order = probabilities.argsort(descending=True).tolist()
        return [{"index": i, "class": self.loaded.classes[i], "probability": float(probabilities[i])} for i in order]

    def unit(self, traced: Trace, index: int, channel: int, row: int, col: int) -> tuple[dict, torch.Tensor]:
        """One unit explained (see analysis.unit.explain_unit), with its effective receptive field: the input
        gradient's magnitude per pixel (H, W), and the box of pixels that move it at all."""
        if not 0 <= index < len(traced.runs):
            raise CnnlabError(f"no layer {index}: the model has layers 0..{len(traced.runs) - 1}")
        explained = explain_unit(traced, self.summary.layers[index].reach, index, channel, row, col)
        gradient = input_gradient(self.model, traced.image, index, channel, row, col)
        explained["effective"] = {"box": gradient_extent(gradient)}
        return explained, gradient.abs().sum(0)

    def gradcam(self, image: torch.Tensor, class_index: int) -> tuple[torch.Tensor, float]:
        """Grad-CAM of a class for one uint8 image: the heatmap (H, W) in [0, 1] and the class's probability."""
        if not 0 <= class_index < len(self.loaded.classes):
            raise CnnlabError(f"no class {class_index}: the model has classes 0..{len(self.loaded.classes) - 1}")
        result = grad_cam(self.model, self.loaded.preprocess(image[None]), classes=torch.tensor([class_index]))
        return result.maps[0], float(result.probabilities[0])

    def filters(self) -> tuple[str, torch.Tensor]:
        """The first conv layer's name and its filters as tiles in [0, 1] (see viz.filters.filter_tiles)."""
        name = first_conv(self.model)
        return name, filter_tiles(self.model.get_submodule(name).weight)
