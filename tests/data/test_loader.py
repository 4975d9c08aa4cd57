"""In-memory batches: seeded order and alternating flips that survive a checkpoint."""

import pytest
import torch

from cnnlab.data.dataset import ImageSet
from cnnlab.data.loader import DeviceLoader, MemoryBatches, batch_source
from cnnlab.data.stream import StreamSet
from cnnlab.errors import CnnlabError


def asymmetric_set(n: int = 40) -> ImageSet:
    """Images whose left and right halves differ, each labelled by its index (so a batch names its images)."""
    images = torch.zeros(n, 1, 4, 4, dtype=torch.uint8)
    images[:, :, :, :2] = torch.arange(1, n + 1, dtype=torch.uint8).view(n, 1, 1, 1)
    return ImageSet(images, torch.arange(n))


def mirrored_per_image(batches: MemoryBatches) -> torch.Tensor:
    """One epoch: whether each image (by label) came out mirrored."""
    flags = torch.zeros(len(batches.labels), dtype=torch.bool)
    for images, labels in batches:
        flags[labels] = images[:, 0, 0, 0] == 0  # the bright half moved to the right
    return flags


def test_alternating_flip_mirrors_half_then_alternates_every_image():
    batches = MemoryBatches(asymmetric_set(), 8, shuffle=True, device=torch.device("cpu"), seed=3, alternate_flip=True)
    first, second, third = (mirrored_per_image(batches) for _ in range(3))
    assert 10 < int(first.sum()) < 30  # about half
    assert torch.equal(second, ~first) and torch.equal(third, first)


def test_without_alternating_flip_the_images_are_left_alone():
    batches = MemoryBatches(asymmetric_set(), 8, shuffle=True, device=torch.device("cpu"), seed=3)
    assert not mirrored_per_image(batches).any()


def test_alternating_flip_resumes_on_the_right_parity():
    data = asymmetric_set()
    loader = DeviceLoader(data, 8, mean=(0.0,), std=(1.0,), shuffle=True, seed=1, alternate_flip=True)
    next(iter(loader))  # an epoch begun
    state = loader.rng_state()
    resumed = DeviceLoader(data, 8, mean=(0.0,), std=(1.0,), shuffle=True, seed=1, alternate_flip=True)
    resumed.set_rng_state(state)
    assert torch.equal(mirrored_per_image(resumed.batches), mirrored_per_image(loader.batches))
    assert resumed.batches.order.epoch == loader.batches.order.epoch == 2


def test_streamed_data_refuses_alternating_flip():
    stream = StreamSet.__new__(StreamSet)
    with pytest.raises(CnnlabError, match="held in memory"):
        batch_source(stream, 8, alternate_flip=True)
