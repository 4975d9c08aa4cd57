"""Batches on the training device: uint8 batches from memory or from file-reading workers, then augmented and
normalised as whole batches on the device."""

from collections.abc import Callable, Iterator

import torch

from cnnlab.data.dataset import ImageSet, Split
from cnnlab.data.order import EpochOrder
from cnnlab.data.policies import Mixer, Policy
from cnnlab.data.stream import FileBatches, StreamSet
from cnnlab.errors import SettingError

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Float images in [0, 255] → (x/255 - mean) / std per channel, in place."""
    scale = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1) * 255
    shift = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1) * 255
    return x.sub_(shift).div_(scale)


class MemoryBatches:
    """uint8 (images, labels) batches of an ImageSet held on one device, in a seeded order."""

    def __init__(self, data: ImageSet, batch_size: int, shuffle: bool, device: torch.device, seed: int,
                 drop_last: bool = False, sample_weights: torch.Tensor | None = None,
                 alternate_flip: bool = False) -> None:
        """Move the images to `device` once; with `sample_weights`, each epoch draws N images by those weights.
        With `alternate_flip`, a seeded half of the images is mirrored in the first epoch and every image's
        mirroring alternates from one epoch to the next (airbench's alternating flip: each image is seen both
        ways in any two consecutive epochs, instead of by chance)."""
        self.images, self.labels = data.images.to(device), data.labels.to(device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.sample_weights = None if sample_weights is None else sample_weights.to(device)
        self.order = EpochOrder(seed, device)
        self.flip_bits = None
        if alternate_flip:  # one seeded coin per image, drawn once
            coins = torch.rand(len(self.labels), generator=torch.Generator().manual_seed(seed + 2))
            self.flip_bits = (coins < 0.5).to(device)

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of batches (after a mid-epoch resume, the rest of one)."""
        n, generator = len(self.labels), self.order.generator
        odd_epoch = self.order.epoch % 2 == 1
        skip = self.order.begin()
        order = torch.randperm(n, device=self.labels.device, generator=generator) if self.shuffle else None
        if self.sample_weights is not None:
            order = torch.multinomial(self.sample_weights, n, replacement=True, generator=generator)
        for start in range(skip * self.batch_size, len(self) * self.batch_size, self.batch_size):
            stop = start + self.batch_size
            index = order[start:stop] if order is not None else slice(start, stop)
            images = self.images[index]
            if self.flip_bits is not None:
                mirrored = (self.flip_bits[index] ^ odd_epoch)[:, None, None, None]
                images = torch.where(mirrored, images.flip(3), images)
            self.order.advance()
            yield images, self.labels[index]
        self.order.end()


def batch_source(
    data: Split, batch_size: int, shuffle: bool = False, device: torch.device | str = "cpu", seed: int = 0,
    drop_last: bool = False, workers: int = 0, random_crop: bool = False, sample_weights: torch.Tensor | None = None,
    alternate_flip: bool = False, shard: tuple[int, int, bool] = (0, 1, False),
) -> MemoryBatches | FileBatches:
    """uint8 (images, labels) batches of a split: from memory on `device`, or read from files by workers;
    `sample_weights` (one per image) replaces the shuffle by weighted sampling with replacement. Files are read
    by rank: `shard` (rank, ranks, drop_small) says which share of each global batch this process reads (images
    in memory are all there: every rank takes the whole batch, see distributed.ShardedLoader)."""
    if isinstance(data, StreamSet):
        if alternate_flip:
            raise SettingError("alternate_flip", "needs a dataset held in memory; this one is streamed from files "
                               "(use `flip`, or `stream` off if it fits in memory)")
        rank, ranks, drop_small = shard
        return FileBatches(data, batch_size, shuffle, train=random_crop, workers=workers, seed=seed,
                           drop_last=drop_last, pin_memory=torch.device(device).type == "cuda",
                           sample_weights=sample_weights, rank=rank, ranks=ranks, drop_small=drop_small)
    return MemoryBatches(data, batch_size, shuffle, torch.device(device), seed, drop_last, sample_weights,
                         alternate_flip)


class DeviceLoader:
    """Iterates (images, labels) over a split: float batches on `device`, augmented, normalised."""

    def __init__(
        self,
        data: Split,
        batch_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        drop_last: bool = False,
        augment: Augment | None = None,
        channels_last: bool = False,
        seed: int = 0,
        workers: int = 0,
        random_crop: bool = False,
        policy: Policy | None = None,
        mixer: Mixer | None = None,
        sample_weights: torch.Tensor | None = None,
        alternate_flip: bool = False,
        shard: tuple[int, int, bool] = (0, 1, False),
    ) -> None:
        """In-memory splits are moved to `device` once; streamed splits are read by `workers` processes, which
        take a random resized crop of each image when `random_crop`, else a centre crop. A `policy` runs on the
        uint8 batch before `augment`; a `mixer` mixes the normalised batch and makes the labels soft targets.
        Streamed files are read by rank (`shard`: rank, ranks, drop_small); each rank then augments its own share
        with its own generator."""
        self.device = torch.device(device)
        self.batches = batch_source(data, batch_size, shuffle, self.device, seed, drop_last, workers, random_crop,
                                    sample_weights, alternate_flip, shard)
        self.augment, self.channels_last = augment, channels_last
        self.policy, self.mixer = policy, mixer
        self.mean, self.std = mean, std
        rank = shard[0] if self.sharded else 0
        self.generator = torch.Generator(device=self.device).manual_seed(seed + 1 + (rank << 32))

    @property
    def sharded(self) -> bool:
        """Whether this process reads only its rank's share of each batch (of streamed files)."""
        return getattr(self.batches, "sharded", False)

    @property
    def global_size(self) -> int:
        """Images in the global batch whose share came last (when sharded)."""
        return self.batches.global_size

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.batches)

    def rng_state(self, mid_epoch: bool = False) -> dict[str, torch.Tensor]:
        """The order generator, epoch count and (`mid_epoch`) position in the epoch, and the augmentation generator
        as it is now: the skipped batches of a resumed epoch are not augmented again."""
        return {**self.batches.order.state(mid_epoch), "augment": self.generator.get_state()}

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what rng_state returned."""
        self.batches.order.restore(state)
        self.generator.set_state(state["augment"])

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 batch → float batch: augmented in [0, 1], then normalised, in the chosen memory format."""
        images = images.to(self.device, non_blocking=True)
        if self.policy is not None:
            images = self.policy(images, self.generator)
        x = images.float()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.augment is not None:
            x = self.augment(x.div_(255), self.generator).mul_(255)
        return normalize(x, self.mean, self.std)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of batches."""
        for images, labels in self.batches:
            x, labels = self.prepare(images), labels.to(self.device, non_blocking=True)
            yield self.mixer(x, labels, self.generator) if self.mixer is not None else (x, labels)
