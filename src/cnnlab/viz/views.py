"""The pictures of a trained run as PNG files: its filters, feature maps and Grad-CAM heatmaps for given images."""

from pathlib import Path

import torch

from cnnlab.errors import CnnlabError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.inference.predict import expand_images
from cnnlab.viz.featuremaps import feature_maps, save_feature_maps
from cnnlab.viz.filters import save_filters
from cnnlab.viz.gradcam import grad_cam
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
    layers = layers or [find_layer(loaded.model, None)[0]]
    pixels, files = decoded(loaded, [image])
    maps = feature_maps(loaded.model, loaded.preprocess(pixels)[0], layers)
    folder = output_folder(loaded, out)
    return [
        save_feature_maps(values, folder / f"featuremaps-{Path(files[0]).stem}-{name.replace('.', '-')}.png",
                          f"{files[0].name}: {name}, {values.shape[0]} channels {values.shape[1]}x{values.shape[2]}")
        for name, values in maps.items()
    ]


def gradcam_png(run: str | Path, images: list[str | Path], layer: str | None = None, target: str | None = None,
                method: str = "gradcam", out: str | Path | None = None) -> tuple[Path, list[dict]]:
    """Heatmaps for the predicted class (or the class named `target`) of each image, in one grid PNG."""
    loaded = load_model(run)
    pixels, files = decoded(loaded, images)
    classes = None
    if target is not None:
        if target not in loaded.classes:
            raise CnnlabError(f"unknown class {target!r}: this model's classes are {', '.join(loaded.classes)}")
        classes = torch.full((len(files),), loaded.classes.index(target))
    result = grad_cam(loaded.model, loaded.preprocess(pixels), layer, classes, method)
    names = [loaded.classes[c] for c in result.classes.tolist()]
    captions = [f"{f.name}\n{n} {p:.0%}" for f, n, p in zip(files, names, result.probabilities.tolist())]
    title = f"{method} at {result.layer}" + (f" for class {target}" if target else " for the predicted class")
    path = save_heatmap_grid(pixels, result.maps, captions, output_folder(loaded, out) / f"{method}.png", title)
    rows = [{"file": str(f), "class": n, "probability": p} for f, n, p in zip(files, names, result.probabilities.tolist())]
    return path, rows
