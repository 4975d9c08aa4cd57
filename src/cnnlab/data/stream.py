"""Image folders too large for memory: DataLoader workers decode and crop each file (transforms v2) every epoch.

Workers hand back uint8 batches of one size; the device then flips, jitters, erases and normalises them as whole
batches, exactly as for in-memory data (see loader.py). Unreadable files are skipped and named once.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Sampler
from torchvision.transforms import v2

from cnnlab import events
from cnnlab.data.decode import UnreadableImage, decode_image
from cnnlab.data.folder import FileList
from cnnlab.data.order import EpochOrder

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
    """Item (i, seed): (uint8 image, label, None), or (None, label, (path, reason)) when the file cannot be used.

    A training crop is drawn from its own seed, which the epoch's order gives each image: the crops are the same
    whichever worker decodes the file and however many workers there are, so a resumed epoch crops as the first
    try did."""

    def __init__(self, data: StreamSet, train: bool) -> None:
        """Decode with the set's channels; crop as for training or evaluation."""
        self.data, self.train, self.transform = data, train, crop_transform(data.size, train)

    def __len__(self) -> int:
        """Number of files."""
        return len(self.data)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor | None, int, tuple[str, str] | None]:
        """Decode and crop one file."""
        index, seed = item
        label = self.data.files.labels[index]
        try:
            image = decode_image(self.data.files.paths[index], channels=self.data.channels)
        except UnreadableImage as err:
            return None, label, (err.name, err.reason)
        if not self.train:
            return self.transform(image), label, None
        with torch.random.fork_rng(devices=[]):  # with no workers this is the training process: leave its RNG alone
            torch.manual_seed(seed)
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


class EpochItems(Sampler):
    """The (file index, crop seed) batches FileBatches chose for the epoch in progress, handed to the DataLoader."""

    def __init__(self, batches: int) -> None:
        """Batches per epoch (global ones: the share of each rank is one batch)."""
        self.batches, self.epoch = batches, []

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        """The epoch's batches."""
        return iter(self.epoch)


class FileBatches:
    """uint8 (images, labels) batches of a StreamSet from DataLoader workers, in a seeded order.

    Of each global batch of the seeded order, rank `rank` of `ranks` reads and decodes only its contiguous slice
    (the slice a process that read the whole batch would keep): over an epoch the ranks decode every file once
    between them, in a fresh order each epoch. With `drop_small`, a final global batch with fewer images than
    ranks is skipped (training needs an image on every rank)."""

    def __init__(self, data: StreamSet, batch_size: int, shuffle: bool, train: bool, workers: int, seed: int,
                 drop_last: bool = False, pin_memory: bool = False, sample_weights: torch.Tensor | None = None,
                 rank: int = 0, ranks: int = 1, drop_small: bool = False) -> None:
        """A DataLoader over the files; the order (or weighted draw) and the crops follow `self.order`."""
        self.size, self.batch_size, self.shuffle, self.drop_last = len(data), batch_size, shuffle, drop_last
        self.sample_weights = None if sample_weights is None else sample_weights.cpu()
        self.rank, self.ranks, self.drop_small = rank, ranks, drop_small
        self.order = EpochOrder(seed)
        count = self.size // batch_size if drop_last else -(-self.size // batch_size)
        self.items = EpochItems(count)
        self.loader = DataLoader(
            FileImages(data, train), batch_sampler=self.items, num_workers=workers, collate_fn=collate,
            pin_memory=pin_memory, persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(seed),  # the workers' base seed: not the training's RNG
        )
        self.reported: set[tuple[str, str]] = set()
        self.global_size = 0  # images in the global batch whose share was handed out last

    @property
    def sharded(self) -> bool:
        """Whether this rank reads only its share of each batch."""
        return self.ranks > 1

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.items)

    def epoch_items(self, skip: int) -> tuple[list[list[tuple[int, int]]], list[int]]:
        """This rank's (file index, crop seed) share of each of the epoch's global batches after the first `skip`,
        and the global batches' sizes (drawn in full on every rank, so all ranks agree)."""
        generator = self.order.generator
        if self.sample_weights is not None:
            order = torch.multinomial(self.sample_weights, self.size, replacement=True, generator=generator)
        else:
            order = torch.randperm(self.size, generator=generator) if self.shuffle else torch.arange(self.size)
        seeds = torch.randint(0, 2**62, (self.size,), generator=generator)
        shares, sizes = [], []
        for start in range(skip * self.batch_size, len(self) * self.batch_size, self.batch_size):
            chosen = torch.arange(start, min(start + self.batch_size, self.size))
            share = chosen.tensor_split(self.ranks)[self.rank]
            small = self.drop_small and len(chosen) < self.ranks
            shares.append([] if small else [(int(order[i]), int(seeds[i])) for i in share])
            sizes.append(len(chosen))
        return shares, sizes

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch (after a mid-epoch resume, the rest of one) of non-empty batches; each unusable file is named
        the first time it is met."""
        self.items.epoch, sizes = self.epoch_items(self.order.begin())
        for (images, labels, problems), size in zip(self.loader, sizes):
            self.order.advance()
            for problem in problems:
                if problem not in self.reported:
                    self.reported.add(problem)
                    events.emit(events.FileSkipped(*problem))
            if len(labels):
                self.global_size = size
                yield images, labels
        self.order.end()
