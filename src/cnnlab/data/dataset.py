"""What a loaded dataset is: images as one uint8 tensor (or files to stream) per split, with classes and statistics."""

from dataclasses import dataclass, field

import torch

from cnnlab.data.multilabel import is_multi_hot, label_counts
from cnnlab.data.stream import StreamSet
from cnnlab.errors import SettingError


@dataclass
class ImageSet:
    """Images as one uint8 tensor (N, C, H, W) with their labels: int64 class indices (N,), or uint8 multi-hot rows
    (N, labels) when each image has any number of the labels."""

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

    `own_split` says whether the evaluation split `val` came with the data (a named dataset's test set, a folder's
    val/ or test/ tree) rather than being held out of the training images. `test` is the data's own split when
    validation images were held out of the training images beside it (`holdout`, `fold`): then `val` holds those."""

    name: str
    classes: list[str]
    train: Split
    val: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    own_split: bool = True
    test: Split | None = None

    def split(self, name: str | None = None) -> tuple[str, Split]:
        """("val" or "test", the split): a name asked for, else the test split when there is one, else the
        evaluation split, named for what it is (held out of the training images: val; the data's own: test)."""
        held_out = "val" if not self.own_split else "test"
        splits = {"test": self.test, "val": self.val} if self.test is not None else {held_out: self.val}
        if name is None:
            name = "test" if "test" in splits else held_out
        if name not in ("val", "test"):
            raise SettingError("split", f"{name!r} is not one of: val, test")
        if name == "val" and name not in splits:
            raise SettingError("split", f"val: {self.name} has no validation images held out of its training images; "
                               "its evaluation split is its own test split (train with `holdout`, e.g. 0.1)")
        if name not in splits:
            raise SettingError("split", f"test: {self.name} has no test split of its own; its evaluation images were "
                               "held out of the training images (a validation split)")
        return name, splits[name]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return self.train.image_shape

    @property
    def streamed(self) -> bool:
        """Whether the images are read from disk every epoch rather than held in memory."""
        return isinstance(self.train, StreamSet)

    @property
    def multi_label(self) -> bool:
        """Whether each image has any number of the labels (multi-hot rows) rather than one class."""
        return is_multi_hot(self.train.labels)

    def class_counts(self) -> list[int]:
        """Training images per class (having each label, when multi-label)."""
        return label_counts(self.train.labels, len(self.classes)).tolist()

