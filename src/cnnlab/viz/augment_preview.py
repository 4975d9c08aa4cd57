"""A preview of data augmentation (course section 9): the original images and each augmentation in one PNG grid.

The course's six (flip, rotation, crop, colour jitter, cutout, random erasing) are cnnlab's own batch ops, set so
that their effect shows; the policies are torchvision's transforms v2, as training with the `policy`, `mixup` and `cutmix` settings
runs them. Every column draws from one generator seeded by `seed`, so the same seed gives the same picture.
"""

import functools
from collections.abc import Callable
from pathlib import Path

import torch

from cnnlab.data import augment as ops
from cnnlab.data.dataset import ImageSet
from cnnlab.data.decode import decode_files, decode_image
from cnnlab.data.policies import POLICIES, Mixer, Policy
from cnnlab.data.sources import load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.viz.plots import save_figure, show_image, tile_grid

PREVIEW_POLICIES = (*POLICIES, "mixup", "cutmix")
FloatOp = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def course_ops(height: int) -> dict[str, FloatOp]:
    """The course's six augmentations on [0, 1] float batches, strong enough to see (sizes scale with the image)."""
    return {
        "flip": functools.partial(ops.flip, p=1.0),
        "rotation ±30°": functools.partial(ops.rotate, degrees=30.0),
        f"crop (pad {max(1, height // 8)})": functools.partial(ops.random_crop, padding=max(1, height // 8),
                                                               pad_mode="zeros"),
        "colour jitter 0.5": functools.partial(ops.color_jitter, brightness=0.5, contrast=0.5, saturation=0.5),
        f"cutout {max(1, height // 2)}px": functools.partial(ops.cutout, size=max(1, height // 2)),
        "random erasing": functools.partial(ops.random_erasing, p=1.0),
    }


def policy_column(name: str, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 images through one policy (or MixUp/CutMix of each image with the next one)."""
    if name in POLICIES:
        return Policy(name, images.device, images.shape[1])(images, generator)
    mixer = Mixer(len(images), **{name: 1.0})
    mixed, _ = mixer(images.float() / 255, torch.arange(len(images)), generator)
    return (mixed * 255).round().clamp(0, 255).to(torch.uint8)


def preview_columns(images: torch.Tensor, policies: list[str], seed: int = 0) -> dict[str, torch.Tensor]:
    """Column title -> uint8 images (N, C, H, W): the originals, the course's six augmentations, then each policy."""
    unknown = [name for name in policies if name not in PREVIEW_POLICIES]
    if unknown:
        raise CnnlabError(f"unknown policy {unknown[0]!r}: use one of {', '.join(PREVIEW_POLICIES)}")
    if images.shape[1] not in (1, 3):
        raise CnnlabError(f"the preview needs 1- or 3-channel images, got {images.shape[1]} channels")
    generator = torch.Generator().manual_seed(seed)
    columns = {"original": images}
    unit = images.float() / 255
    for title, op in course_ops(images.shape[2]).items():
        columns[title] = (op(unit, generator) * 255).round().clamp(0, 255).to(torch.uint8)
    for name in policies:
        columns[name] = policy_column(name, images, generator)
    return columns


def save_preview(columns: dict[str, torch.Tensor], path: Path, title: str, captions: list[str] | None = None) -> Path:
    """One row per image, one labelled column per augmentation."""
    rows, names = len(next(iter(columns.values()))), list(columns)
    fig, axes = tile_grid(rows * len(names), len(names), (1.5, 1.6), (0.0, 0.5))
    for col, name in enumerate(names):
        for row in range(rows):
            ax = axes[row, col]
            show_image(ax, columns[name][row])
            if row == 0:
                ax.set_title(name, fontsize=8)
        if captions and col == 0:
            for row, caption in enumerate(captions):
                axes[row, 0].text(-0.08, 0.5, caption, transform=axes[row, 0].transAxes, rotation=90,
                                  ha="right", va="center", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def dataset_images(source: str, count: int, data_dir: str | None = None) -> tuple[torch.Tensor, list[str]]:
    """The first training image of each of the first `count` classes of a dataset, with the class names."""
    data = load_dataset(source, data_dir=data_dir)
    labels = data.train.labels
    chosen = [int((labels == c).nonzero()[0]) for c in range(len(data.classes)) if (labels == c).any()][:count]
    names = [data.classes[int(labels[i])] for i in chosen]
    if isinstance(data.train, ImageSet):
        return data.train.images[chosen], names
    files = data.train.files
    return torch.stack([decode_image(files.paths[i], data.train.channels, data.train.size) for i in chosen]), names


def file_images(paths: list[str], size: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """Image files as one uint8 batch (resized to `size` when given or when their sizes differ), with their names."""
    try:
        images, kept, skipped = decode_files(paths, size=size)
    except CnnlabError:  # mixed sizes: bring them to the smallest short side
        images, kept, skipped = decode_files(paths, size=min(min(decode_image(p).shape[1:]) for p in paths))
    if skipped:
        raise CnnlabError("; ".join(f"{path}: {reason}" for path, reason in skipped))
    return images, [Path(paths[i]).name for i in kept]


def augment_preview(
    images: list[str] | None = None, data: str | None = None, out: str | Path = "augment_preview.png",
    policies: list[str] | None = None, seed: int = 0, count: int = 4, data_dir: str | None = None,
) -> Path:
    """Write the preview PNG of image files, or of `count` images of a dataset (one per class)."""
    if bool(images) == bool(data):
        raise CnnlabError("give image files or `data` SOURCE (one of the two)")
    pixels, captions = dataset_images(data, count, data_dir) if data else file_images(images)
    chosen = list(PREVIEW_POLICIES) if policies is None else policies
    if len(pixels) < 2:
        chosen = [name for name in chosen if name not in ("mixup", "cutmix")]  # mixing needs a second image
    columns = preview_columns(pixels, chosen, seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"augmentations (seed {seed}); policies draw their operations once per batch, as in training"
    return save_preview(columns, out, title, captions)
