"""Several labels per image: each image's labels as a multi-hot row (one uint8 0/1 per label, as the in-memory data
path holds them), and the strata that stratified splits of such images use."""

from collections import Counter

import torch


def multi_hot(indices: set[int], count: int) -> tuple[int, ...]:
    """The 0/1 row of `count` labels with ones at `indices` (an image with none of the labels is all zeros)."""
    return tuple(int(i in indices) for i in range(count))


def is_multi_hot(labels: torch.Tensor) -> bool:
    """Whether a split's labels are multi-hot rows (N, labels) rather than one class index per image (N,)."""
    return labels.dim() == 2


def label_counts(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Images per class (int64, length `count`): of each class index, or (multi-hot) having each label."""
    if is_multi_hot(labels):
        return labels.long().sum(0).cpu()
    return torch.bincount(labels.long().cpu(), minlength=count)


def strata(labels: torch.Tensor, least: int = 2) -> torch.Tensor:
    """One stratum per image for stratified splits: the class index; for multi-hot rows, the combination of labels,
    with the combinations that fewer than `least` images share pooled into one stratum (a combination seen once
    cannot be on both sides of a split), and that pool joined to the largest stratum when it is itself too small."""
    if not is_multi_hot(labels):
        return labels
    rows = [tuple(row) for row in labels.tolist()]
    counts = Counter(rows)
    common = sorted(combination for combination, n in counts.items() if n >= least)
    ids = {combination: i for i, combination in enumerate(common)}
    pooled = len(common)
    if sum(n for combination, n in counts.items() if n < least) < least and common:
        pooled = ids[max(common, key=lambda combination: counts[combination])]
    return torch.tensor([ids.get(row, pooled) for row in rows], dtype=torch.int64)
