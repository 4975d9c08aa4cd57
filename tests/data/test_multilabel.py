"""Multi-hot rows and the strata that split multi-label images: combinations kept together, rare ones pooled."""

import torch

from cnnlab.data.holdout import fold_indices
from cnnlab.data.multilabel import label_counts, multi_hot, strata


def test_multi_hot_rows_and_label_counts():
    assert multi_hot({0, 2}, 4) == (1, 0, 1, 0) and multi_hot(set(), 2) == (0, 0)
    labels = torch.tensor([multi_hot({0, 2}, 3), multi_hot({2}, 3), multi_hot(set(), 3)], dtype=torch.uint8)
    assert label_counts(labels, 3).tolist() == [1, 0, 2]
    assert label_counts(torch.tensor([2, 0, 2]), 3).tolist() == [1, 0, 2]  # class indices: as bincount


def test_strata_are_the_combinations_with_the_rare_ones_pooled():
    rows = [(1, 0)] * 4 + [(0, 1)] * 3 + [(1, 1)] + [(0, 0)]
    found = strata(torch.tensor(rows, dtype=torch.uint8)).tolist()
    assert len({found[i] for i in range(4)}) == 1 and len({found[i] for i in range(4, 7)}) == 1
    assert found[7] == found[8] and len(set(found)) == 3  # (1, 1) and (0, 0), once each, share one stratum


def test_a_pool_too_small_to_split_joins_the_largest_stratum():
    rows = [(1, 0)] * 5 + [(0, 1)] * 3 + [(1, 1)]
    found = strata(torch.tensor(rows, dtype=torch.uint8)).tolist()
    assert found[8] == found[0] and len(set(found)) == 2


def test_class_indices_are_their_own_strata():
    labels = torch.tensor([3, 1, 3])
    assert strata(labels) is labels


def test_folds_of_multi_label_images_keep_each_combination_spread_evenly():
    rows = [(1, 0, 0)] * 10 + [(0, 1, 1)] * 10 + [(1, 1, 0)] * 5 + [(0, 0, 1)] * 2 + [(1, 1, 1)] * 3
    labels = torch.tensor(rows, dtype=torch.uint8)
    folds = fold_indices(strata(labels, least=5), 5, seed=0)
    assert sorted(i for fold in folds for i in fold) == list(range(len(rows)))
    for fold in folds:
        held = [rows[i] for i in fold]
        assert held.count((1, 0, 0)) == 2 and held.count((0, 1, 1)) == 2 and held.count((1, 1, 0)) == 1
