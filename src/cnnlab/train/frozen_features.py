"""Transfer learning in seconds: while the backbone is frozen and the images are not augmented, the backbone maps each
image to the same features every epoch, so they are computed once (cached on disk, keyed by the images and the
backbone's weights) and the head-only epochs train and validate the head on them."""

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from cnnlab import events
from cnnlab.data.augment import AugmentConfig
from cnnlab.data.cache import cache_root, save_atomic
from cnnlab.data.dataset import Dataset, ImageSet
from cnnlab.data.loader import DeviceLoader, MemoryBatches
from cnnlab.models.freeze import head_modules
from cnnlab.settings import Settings
from cnnlab.train.precision import autocast
from cnnlab.train.stopwatch import Stopwatch

CACHE_VERSION = 1
BATCH = 128  # images per backbone pass
MEMORY_SHARE = 0.5  # of the memory available now, the most the features may take


class Head(nn.Module):
    """A model's head alone: what the head-only epochs run on cached features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Features of the backbone → logits."""
        return self.model.forward_head(features)


class FeatureLoader:
    """Seeded batches of (features, labels), in the same order as the image loader with the same seed would give."""

    def __init__(self, features: ImageSet, batch_size: int, shuffle: bool, device: torch.device, seed: int,
                 sample_weights: torch.Tensor | None = None) -> None:
        self.batches = MemoryBatches(features, batch_size, shuffle, device, seed, sample_weights=sample_weights)

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.batches)

    def rng_state(self, mid_epoch: bool = False) -> dict[str, torch.Tensor]:
        """The order generator's state, the epoch count and (`mid_epoch`) the position in the epoch."""
        return self.batches.order.state(mid_epoch)

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what rng_state returned."""
        self.batches.order.restore(state)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of batches."""
        return iter(self.batches)


def augmentation_on(settings: Settings, augment: AugmentConfig) -> list[str]:
    """The settings whose augmentation a frozen backbone would see (what changes the images from epoch to epoch)."""
    mixing = settings.augment
    on = {"crop_padding": augment.crop_padding, "flip": augment.flip, "alternate_flip": mixing.alternate_flip,
          "rotation": augment.rotation, "jitter": augment.brightness, "cutout": augment.cutout,
          "erasing": augment.erasing, "policy": mixing.policy != "none", "mixup": mixing.mixup,
          "cutmix": mixing.cutmix, "progressive_size": mixing.progressive_epochs}
    return [name for name, value in on.items() if value]


def unusable_because(settings: Settings, data: Dataset, augment: AugmentConfig, distributed: bool) -> str | None:
    """Why the head-only epochs cannot train on cached features, or None when they can."""
    if distributed:
        return "the run trains on several processes"
    if data.streamed:
        return "the images are streamed from disk and cropped at random every epoch"
    on = augmentation_on(settings, augment)
    if on:
        return f"augmentation changes the images every epoch ({', '.join(f'`{name}`' for name in on)})"
    return None


def feature_key(model: nn.Module, data: Dataset, dtype: torch.dtype, channels_last: bool) -> str:
    """A hash of everything the features depend on: the images of both splits, their normalisation, the backbone's
    weights and buffers (the head's are left out: it is new in every run), the architecture and the precision."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([CACHE_VERSION, type(model).__name__, str(dtype), data.mean, data.std,
                              channels_last]).encode())
    hash_backbone(model, digest)
    for split in (data.train, data.val):
        digest.update(raw_bytes(split.images))
        digest.update(raw_bytes(split.labels))
    return digest.hexdigest()


def hash_backbone(model: nn.Module, digest: hashlib.blake2b) -> None:
    """Feed the backbone's weights and buffers, by name, into `digest` (the head's are left out: it is new in every
    run, and features do not depend on it)."""
    head = {param.data_ptr() for module in head_modules(model) for param in module.parameters()}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in head:
            digest.update(name.encode())
            digest.update(raw_bytes(tensor))


def raw_bytes(tensor: torch.Tensor) -> memoryview:
    """A tensor's bytes as they lie in memory (any dtype, bf16 too)."""
    return memoryview(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())


@torch.no_grad()
def backbone_features(model: nn.Module, images: ImageSet, data: Dataset, device: torch.device, dtype: torch.dtype,
                      channels_last: bool, description: str) -> torch.Tensor:
    """`forward_features` of every image in order, in eval mode, in the run's precision."""
    loader = DeviceLoader(images, BATCH, data.mean, data.std, device, channels_last=channels_last)
    was_training = model.training
    model.eval()
    parts = []
    with events.progress(description, len(loader)) as advance:
        for batch, _ in loader:
            with autocast(device, dtype):
                parts.append(model.forward_features(batch).contiguous())
            advance(1)
    model.train(was_training)
    return torch.cat(parts)


def feature_bytes(model: nn.Module, data: Dataset, device: torch.device, dtype: torch.dtype) -> int:
    """The memory that both splits' features take, from one image's."""
    one = torch.zeros((1, *data.input_shape), device=device)
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(device, dtype):
        sample = model.forward_features(one)
    model.train(was_training)
    return sample.numel() * sample.element_size() * (len(data.train) + len(data.val))


def available_memory() -> int:
    """Bytes of memory free now (as the kernel reports it)."""
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@dataclass
class CachedFeatures:
    """Both splits' backbone features (with their labels), and where they came from."""

    train: ImageSet
    val: ImageSet
    file: Path
    seconds: float
    from_disk: bool

    def describe(self) -> str:
        """One line for the log."""
        count = f"{len(self.train):,} + {len(self.val):,} images"
        source = f"read from {self.file}" if self.from_disk else f"computed once in {self.seconds:.1f}s, cached in {self.file}"
        return (f"frozen backbone: the head trains on its features ({count}, {tuple(self.train.images.shape[1:])} "
                f"each, {source}); `cache_features` off sends the images through the backbone every epoch")


def cached_features(model: nn.Module, data: Dataset, device: torch.device, dtype: torch.dtype,
                    channels_last: bool) -> CachedFeatures | str:
    """The features of both splits from the cache, or computed (and cached) now; a reason when they cannot be held in
    memory."""
    file = cache_root() / "features" / f"{feature_key(model, data, dtype, channels_last)}.safetensors"
    clock, from_disk = Stopwatch(device).start(), file.exists()
    if from_disk:
        stored = load_file(str(file), device=str(device))
        train, val = stored["train"], stored["val"]
    else:
        needed, free = feature_bytes(model, data, device, dtype), available_memory()
        if needed > MEMORY_SHARE * free:
            return f"the features would take {needed / 2**30:.1f} GiB of the {free / 2**30:.1f} GiB free"
        train = backbone_features(model, data.train, data, device, dtype, channels_last, "backbone features (train)")
        val = backbone_features(model, data.val, data, device, dtype, channels_last, "backbone features (val)")
        save_atomic(file, {"train": train, "val": val})
    return CachedFeatures(ImageSet(train, data.train.labels), ImageSet(val, data.val.labels), file, clock.stop(),
                          from_disk)
