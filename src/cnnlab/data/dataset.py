"""What a loaded dataset is: images as one uint8 tensor (or files to stream) per split, with classes and statistics."""

from dataclasses import dataclass, field

import torch

from cnnlab.data.stream import StreamSet


@dataclass
class ImageSet:
    """Images as one uint8 tensor (N, C, H, W) with their int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        """Number of images."""
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.images.shape[1:])


Split = ImageSet | StreamSet


@dataclass
class Dataset:
    """A train and an evaluation split with class names and normalisation statistics.

    `own_split` says whether the evaluation split came with the data (a named dataset's test set, a folder's val/ or
    test/ tree) rather than being held out of the training images."""

    name: str
    classes: list[str]
    train: Split
    val: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    own_split: bool = True

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return self.train.image_shape

    @property
    def streamed(self) -> bool:
        """Whether the images are read from disk every epoch rather than held in memory."""
        return isinstance(self.train, StreamSet)

    def class_counts(self) -> list[int]:
        """Training images per class."""
        return torch.bincount(self.train.labels, minlength=len(self.classes)).tolist()


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1]."""
    x = images.transpose(0, 1).reshape(images.shape[1], -1).double() / 255
    return tuple(round(v, 4) for v in x.mean(1).tolist()), tuple(round(v, 4) for v in x.std(1).tolist())


def resized(images: torch.Tensor, size: int | tuple[int, int], chunk: int = 4096) -> torch.Tensor:
    """uint8 images resized to `size` (a side: square; or (height, width)), antialiased bilinear, in chunks."""
    shape = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == shape:
        return images
    out = torch.empty((len(images), images.shape[1], *shape), dtype=torch.uint8)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].float()
        scaled = torch.nn.functional.interpolate(part, size=shape, mode="bilinear", antialias=True, align_corners=False)
        out[start:start + chunk] = scaled.round_().clamp_(0, 255).to(torch.uint8)
    return out
