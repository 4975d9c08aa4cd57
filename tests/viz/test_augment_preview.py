"""The augmentation preview's columns: the original, the course's augmentations and the policies, fixed by the seed."""

import pytest
import torch

from cnnlab.viz.augment_preview import PREVIEW_POLICIES, preview_columns

IMAGES = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
COURSE = ["flip", "rotation", "crop", "colour jitter", "cutout", "random erasing"]


def test_columns_are_the_original_the_course_six_and_the_policies():
    columns = preview_columns(IMAGES, ["randaugment", "cutmix"], seed=0)
    names = list(columns)
    assert names[0] == "original" and names[-2:] == ["randaugment", "cutmix"]
    assert [any(name.startswith(op) for name in names) for op in COURSE] == [True] * 6
    assert torch.equal(columns["original"], IMAGES)
    assert torch.equal(columns["flip"], IMAGES.flip(3))
    for name, images in columns.items():
        assert images.shape == IMAGES.shape and images.dtype == torch.uint8, name
        assert name == "original" or not torch.equal(images, IMAGES), name  # every augmentation shows


def test_same_seed_same_columns_other_seed_other_columns():
    first, again, other = (preview_columns(IMAGES, list(PREVIEW_POLICIES), seed=s) for s in (4, 4, 5))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first if k not in ("original", "flip"))


def test_unknown_policy_is_refused():
    with pytest.raises(Exception, match="unknown policy 'mixupp'"):
        preview_columns(IMAGES, ["mixupp"])
