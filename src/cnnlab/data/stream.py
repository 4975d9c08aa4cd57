"""Image folders too large for memory: DataLoader workers decode and crop each file (transforms v2) every epoch.

Workers hand back uint8 batches of one size; the device then flips, jitters, erases and normalises them as whole
batches, exactly as for in-memory data (see loader.py). Unreadable files are skipped and named once.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, WeightedRandomSampler
from torchvision.transforms import v2

from cnnlab import events
from cnnlab.data.decode import UnreadableImage, decode_image
from cnnlab.data.folder import FileList

EVAL_CROP_RATIO = 0.875  # resize the short side to size / 0.875, then centre-crop: the usual ImageNet evaluation
TRAIN_CROP_SCALE = (0.35, 1.0)  # RandomResizedCrop area range (torchvision's default 0.08 is harsh for small sets)


@dataclass
class StreamSet:
    """Image files that are decoded from disk every epoch and cropped to `size` (height, width)."""

    files: FileList
    channels: int
    size: tuple[int, int]

    def __len__(self) -> int:
        """Number of files."""
        return len(self.files.paths)

    @property
    def labels(self) -> torch.Tensor:
        """The label of every file: int64 class indices, or uint8 multi-hot rows."""
        multi_hot = bool(self.files.labels) and isinstance(self.files.labels[0], tuple)
        return torch.tensor(self.files.labels, dtype=torch.uint8 if multi_hot else torch.int64)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image as the model sees it."""
        return (self.channels, *self.size)


def crop_transform(size: tuple[int, int], train: bool) -> v2.Transform:
    """Training: a random resized crop; evaluation: resize the short side, then a centre crop."""
    if train:
        return v2.RandomResizedCrop(size, scale=TRAIN_CROP_SCALE, antialias=True)
    return v2.Compose([v2.Resize(round(min(size) / EVAL_CROP_RATIO), antialias=True), v2.CenterCrop(size)])


class FileImages(torch.utils.data.Dataset):
    """Item i: (uint8 image, label, None), or (None, label, (path, reason)) when the file cannot be used."""

    def __init__(self, data: StreamSet, train: bool) -> None:
        """Decode with the set's channels; crop as for training or evaluation."""
        self.data, self.transform = data, crop_transform(data.size, train)

    def __len__(self) -> int:
        """Number of files."""
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, tuple[str, str] | None]:
        """Decode and crop one file."""
        label = self.data.files.labels[index]
        try:
            image = decode_image(self.data.files.paths[index], channels=self.data.channels)
        except UnreadableImage as err:
            return None, label, (err.name, err.reason)
        return self.transform(image), label, None


def collate(items: list[tuple[torch.Tensor | None, int, tuple[str, str] | None]]
            ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """Stack the usable images into a uint8 batch; list the unusable files."""
    good = [(image, label) for image, label, _ in items if image is not None]
    problems = [problem for image, _, problem in items if image is None]
    if not good:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), problems
    labels = torch.tensor([label for _, label in good])
    return torch.stack([image for image, _ in good]), labels.to(torch.uint8) if labels.dim() == 2 else labels, problems


class FileBatches:
    """uint8 (images, labels) batches of a StreamSet from DataLoader workers, in a seeded order."""

    def __init__(self, data: StreamSet, batch_size: int, shuffle: bool, train: bool, workers: int, seed: int,
                 drop_last: bool = False, pin_memory: bool = False, sample_weights: torch.Tensor | None = None) -> None:
        """A DataLoader over the files; its order (or weighted draw) and worker seeds follow `self.generator`."""
        self.generator = torch.Generator().manual_seed(seed)
        sampler = None
        if sample_weights is not None:
            sampler, shuffle = WeightedRandomSampler(sample_weights.cpu(), len(data), generator=self.generator), False
        self.loader = DataLoader(
            FileImages(data, train), batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=workers,
            collate_fn=collate, generator=self.generator, drop_last=drop_last, pin_memory=pin_memory,
            persistent_workers=workers > 0,
        )
        self.reported: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of non-empty batches; each unusable file is named the first time it is met."""
        for images, labels, problems in self.loader:
            for problem in problems:
                if problem not in self.reported:
                    self.reported.add(problem)
                    events.emit(events.FileSkipped(*problem))
            if len(labels):
                yield images, labels
