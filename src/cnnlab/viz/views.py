"""The pictures of a trained run as PNG files: its filters, feature maps and Grad-CAM heatmaps for given images."""

from pathlib import Path

import torch

from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.inference.predict import expand_images
from cnnlab.viz.featuremaps import feature_maps, save_feature_maps
from cnnlab.viz.filters import save_filters
from cnnlab.viz.gradcam import CamResult, grad_cam
from cnnlab.viz.hooks import find_layer
from cnnlab.viz.plots import save_heatmap_grid


def output_folder(loaded: LoadedModel, out: str | Path | None) -> Path:
    """`out`, or the run directory's viz/ folder; created."""
    folder = Path(out) if out else loaded.home / "viz"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def decoded(loaded: LoadedModel, images: list[str | Path]) -> tuple[torch.Tensor, list[Path]]:
    """The readable images among files and folders, as the model takes them, with their paths."""
    files = expand_images(images)
    pixels, kept, skipped = loaded.decode(files)
    if not kept:
        raise CnnlabError("none of the images could be read: " + "; ".join(f"{p}: {r}" for p, r in skipped))
    return pixels, [files[i] for i in kept]


def filters_png(run: str | Path, layer: str | None = None, out: str | Path | None = None) -> Path:
    """A grid of a conv layer's filters (default: the first)."""
    loaded = load_model(run)
    name = (layer or "first-conv").replace(".", "-")
    return save_filters(loaded.model, output_folder(loaded, out) / f"filters-{name}.png", layer, f"{loaded.home.name}: ")


def featuremap_pngs(run: str | Path, image: str | Path, layers: list[str] | None = None,
                    out: str | Path | None = None) -> list[Path]:
    """One PNG per layer (default: the model's last convolutional stage) of its activations for one image."""
    loaded = load_model(run)
    pixels, files = decoded(loaded, [image])
    maps = featuremaps_of(loaded, pixels[0], Path(files[0]).name, layers, output_folder(loaded, out))
    return [path for path, _ in maps.values()]


def featuremaps_of(loaded: LoadedModel, pixels: torch.Tensor, name: str, layers: list[str] | None,
                   folder: Path) -> dict[str, tuple[Path, torch.Tensor]]:
    """Each layer's (PNG, maps) for one uint8 image (C, H, W) called `name`."""
    layers = layers or [find_layer(loaded.model, None)[0]]
    maps = feature_maps(loaded.model, loaded.preprocess(pixels[None])[0], layers)
    return {
        layer: (save_feature_maps(values, folder / f"featuremaps-{Path(name).stem}-{layer.replace('.', '-')}.png",
                                  f"{name}: {layer}, {values.shape[0]} channels {values.shape[1]}x{values.shape[2]}"),
                values)
        for layer, values in maps.items()
    }


def gradcam_png(run: str | Path, images: list[str | Path], layer: str | None = None, target: str | None = None,
                method: str = "gradcam", out: str | Path | None = None) -> tuple[Path, list[dict]]:
    """Heatmaps for the predicted class (or the class named `target`) of each image, in one grid PNG."""
    loaded = load_model(run)
    pixels, files = decoded(loaded, images)
    path, rows, _ = gradcam_of(loaded, pixels, [str(f) for f in files], layer, target, method,
                               output_folder(loaded, out))
    return path, rows


def gradcam_of(loaded: LoadedModel, pixels: torch.Tensor, names: list[str], layer: str | None, target: str | None,
               method: str, folder: Path) -> tuple[Path, list[dict], CamResult]:
    """Grad-CAM of uint8 images (N, C, H, W) named `names`: the grid PNG, a row per image (name, class, probability)
    and the heatmaps. A multi-label model without a `target` gets a heatmap (and a row) for every label each image
    is answered (its most probable label when none reaches its threshold)."""
    classes = None
    if target is not None:
        if target not in loaded.classes:
            raise CnnlabError(f"unknown class {target!r}: this model's classes are {', '.join(loaded.classes)}")
        classes = torch.full((len(pixels),), loaded.classes.index(target))
    elif loaded.record.multi_label:
        pixels, names, classes = answered_labels_of(loaded, pixels, names)
    multi = loaded.record.multi_label
    result = grad_cam(loaded.model, loaded.preprocess(pixels), layer, classes, method, multi_label=multi)
    explained = [loaded.classes[c] for c in result.classes.tolist()]
    probabilities = result.probabilities.tolist()
    captions = [f"{Path(f).name}\n{n} {p:.0%}" for f, n, p in zip(names, explained, probabilities)]
    title = f"{method} at {result.layer}" + (f" for class {target}" if target else
                                             " for each answered label" if multi else " for the predicted class")
    path = save_heatmap_grid(pixels, result.maps, captions, folder / f"{method}.png", title)
    rows = [{"file": f, "class": n, "probability": p} for f, n, p in zip(names, explained, probabilities)]
    return path, rows, result


def answered_labels_of(loaded: LoadedModel, pixels: torch.Tensor, names: list[str]
                       ) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """A multi-label model's (images, names, labels) to explain: each image once for every label whose probability
    reaches its threshold, or once for its most probable label when none does."""
    probabilities = loaded.probabilities(loaded.logits(pixels))
    answered = probabilities >= torch.tensor(loaded.record.label_thresholds())[None]
    answered[~answered.any(1), probabilities[~answered.any(1)].argmax(1)] = True
    image, label = answered.nonzero(as_tuple=True)
    return pixels[image], [names[i] for i in image.tolist()], label
