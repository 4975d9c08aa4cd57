"""Batches from an in-memory uint8 dataset on the training device, augmented and normalised as whole batches."""

from collections.abc import Callable, Iterator

import torch

from cnnlab.data.datasets import ImageSet

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Float images in [0, 255] → (x/255 - mean) / std per channel, in place."""
    scale = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1) * 255
    shift = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1) * 255
    return x.sub_(shift).div_(scale)


class DeviceLoader:
    """Iterates (images, labels) batches over an ImageSet kept on one device: float, augmented, normalised."""

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        drop_last: bool = False,
        augment: Augment | None = None,
        channels_last: bool = False,
        seed: int = 0,
    ) -> None:
        """Move the images to `device` once; batches are drawn with a seeded generator on that device."""
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment, self.channels_last = augment, channels_last
        self.mean, self.std = mean, std
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self) -> torch.Tensor:
        """This epoch's order of the images."""
        n = len(self.labels)
        if self.shuffle:
            return torch.randperm(n, device=self.device, generator=self.generator)
        return torch.arange(n, device=self.device)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 batch → float batch: augmented in [0, 1], then normalised, in the chosen memory format."""
        x = images.float()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.augment is not None:
            x = self.augment(x.div_(255), self.generator).mul_(255)
        return normalize(x, self.mean, self.std)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of batches."""
        order = self.order()
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                break
            yield self.prepare(self.images[index]), self.labels[index]
