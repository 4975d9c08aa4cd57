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

