"""Validation images held out of the training images, beside the data's own test split: a stratified fraction
(`holdout`) or one fold of a stratified K-fold (`fold` k/K), the same for the same seed (multi-label images are
stratified by their combination of labels). The held-out images become
the split training validates on (and `calibrate` fits on); the evaluation split the data had becomes its test split,
which nothing trains, selects or calibrates on."""

import dataclasses

import torch

from cnnlab import events
from cnnlab.data.dataset import Dataset, ImageSet, Split
from cnnlab.data.folder import FileList
from cnnlab.data.multilabel import strata
from cnnlab.data.stream import StreamSet
from cnnlab.errors import SettingError
from cnnlab.settings.sections import parse_fold


def fold_indices(labels: torch.Tensor, folds: int, seed: int) -> list[list[int]]:
    """The held-out indices of each of `folds` stratified folds (every class spread evenly over them), shuffled by
    `seed`: together they are every index once."""
    from sklearn.model_selection import StratifiedKFold

    counts = torch.bincount(labels)
    if int(counts[counts > 0].min()) < folds:
        rare = int(counts[counts > 0].argmin())
        raise SettingError("fold", f"{folds} folds need at least {folds} training images of every class; class "
                           f"{rare} has {int(counts[rare])}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [sorted(held.tolist()) for _, held in splitter.split(labels.numpy().reshape(-1, 1), labels.numpy())]


def fraction_indices(labels: torch.Tensor, fraction: float, seed: int) -> list[int]:
    """A stratified `fraction` of the indices (at least one image of every class that has two, and never a class's
    last one: each class keeps a training image), drawn by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    held = []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().flatten()
        count = min(len(members) - 1, max(1, round(len(members) * fraction)))
        held += members[torch.randperm(len(members), generator=generator)[:count]].tolist()
    return sorted(held)


def subset(split: Split, indices: list[int]) -> Split:
    """The images of a split at `indices`, in memory or on disk alike."""
    if isinstance(split, StreamSet):
        files = split.files
        return StreamSet(FileList([files.paths[i] for i in indices], [files.labels[i] for i in indices]),
                         split.channels, split.size)
    index = torch.tensor(indices, dtype=torch.long)
    return ImageSet(split.images[index], split.labels[index])


def hold_out(dataset: Dataset, holdout: float | None, fold: str | None, seed: int) -> Dataset:
    """The dataset with validation images held out of its training images (`holdout` fraction or `fold` k/K), its
    evaluation split kept as the test split; the dataset itself when neither is asked for."""
    if holdout is None and fold is None:
        return dataset
    if dataset.test is not None:
        raise SettingError("holdout" if holdout is not None else "fold",
                           f"{dataset.name} brings its own validation images beside its test images (val/ and test/ "
                           "trees, or val and test rows): there is nothing to hold out")
    labels = dataset.train.labels
    if fold is not None:
        k, folds = parse_fold(fold)
        held = fold_indices(strata(labels, least=folds), folds, seed)[k - 1]
    else:
        held = fraction_indices(strata(labels), holdout, seed)
    kept = sorted(set(range(len(labels))) - set(held))
    which = f"fold {fold}" if fold is not None else f"{holdout:g} of each class"
    events.note(f"{dataset.name}: {len(held)} of the {len(labels)} training images held out for validation ({which}); "
                f"the {len(dataset.val)} test images stay out of training, selection and calibration")
    return dataclasses.replace(dataset, train=subset(dataset.train, kept), val=subset(dataset.train, held),
                               test=dataset.val, own_split=False)
