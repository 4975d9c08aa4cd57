"""Validation images held out of the training images: stratified K-fold folds are disjoint, cover every image and
keep each class's share; a held-out fraction is stratified; the data's own split becomes the test split."""

import pytest
import torch

from cnnlab.data.dataset import Dataset, ImageSet
from cnnlab.data.holdout import fold_indices, fraction_indices, hold_out
from cnnlab.settings.sections import parse_fold
from cnnlab.errors import SettingError

LABELS = torch.tensor([0] * 30 + [1] * 15 + [2] * 10)


def test_folds_are_disjoint_cover_everything_and_are_stratified():
    folds = fold_indices(LABELS, 5, seed=0)
    everything = [i for fold in folds for i in fold]
    assert sorted(everything) == list(range(len(LABELS)))  # disjoint and complete
    for fold in folds:
        assert torch.bincount(LABELS[fold], minlength=3).tolist() == [6, 3, 2]  # each class's share, in every fold
    assert folds == fold_indices(LABELS, 5, seed=0) and folds != fold_indices(LABELS, 5, seed=1)


def test_a_class_with_fewer_images_than_folds_is_refused():
    with pytest.raises(SettingError, match="`fold` 11 folds need at least 11"):
        fold_indices(LABELS, 11, seed=0)


@pytest.mark.parametrize("text", ["0/5", "6/5", "1/1", "a/b", "2", "1/101"])
def test_a_fold_is_k_of_k(text):
    with pytest.raises(SettingError, match="`fold`"):
        parse_fold(text)


def test_a_fraction_is_held_out_of_each_class():
    held = fraction_indices(LABELS, 0.2, seed=3)
    assert torch.bincount(LABELS[held], minlength=3).tolist() == [6, 3, 2]


def test_hold_out_keeps_the_data_split_as_the_test_split():
    images = torch.arange(len(LABELS), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    test = ImageSet(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 2, 0]))
    data = Dataset("toy", ["a", "b", "c"], ImageSet(images, LABELS), test, (0.5,), (0.2,))
    held = hold_out(data, None, "2/5", seed=0)
    assert held.test is test and len(held.val) == 11 and len(held.train) == 44
    seen = set(held.train.images[:, 0, 0, 0].tolist()) | set(held.val.images[:, 0, 0, 0].tolist())
    assert len(seen) == len(LABELS)  # every training image in exactly one of the two
    assert held.split() == ("test", test) and held.split("val")[0] == "val"
    assert data.split() == ("test", test)
    with pytest.raises(SettingError, match="`split` val"):
        data.split("val")
    assert hold_out(data, None, None, 0) is data
