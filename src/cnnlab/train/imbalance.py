"""Class imbalance: inverse-frequency loss weights, class-balanced sampling weights, and a warning when it matters."""

import torch

from cnnlab import events
from cnnlab.data.multilabel import is_multi_hot, label_counts
from cnnlab.errors import SettingError

IMBALANCE_RATIO = 3.0  # warn when the largest class has more than this many times the images of the smallest


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Images per class (int64, length `num_classes`); for multi-hot labels, images having each label."""
    return label_counts(labels, num_classes)


def positive_weights(counts: torch.Tensor, images: int) -> torch.Tensor:
    """A multi-label loss's weight of each label's positive images: its negatives over its positives, so that both
    weigh the same in its loss (1 for a label that no image, or every image, has)."""
    counts = counts.double()
    usable = (counts > 0) & (counts < images)
    return torch.where(usable, (images - counts) / counts.clamp(min=1), 1.0).float()


def inverse_frequency_weights(counts: torch.Tensor) -> torch.Tensor:
    """Loss weight per class N / (C * n_c): the average weight over the training images is 1; absent classes get 0."""
    counts = counts.double()
    present = counts > 0
    weights = torch.where(present, counts.sum() / (present.sum() * counts.clamp(min=1)), 0.0)
    return weights.float()


def balanced_sample_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A weight per image, 1 / (its class's count): sampling by them draws every class equally often."""
    counts = class_counts(labels, num_classes).double()
    return (1.0 / counts.clamp(min=1))[labels.long().cpu()]


def imbalance_ratio(counts: torch.Tensor) -> float:
    """Largest class count over the smallest non-empty one (1.0 when balanced)."""
    present = counts[counts > 0].double()
    return (present.max() / present.min()).item()


def warn_if_imbalanced(counts: torch.Tensor, classes: list[str], class_weights: str, sampler: str) -> float:
    """Warn (an event) naming the remedies when the largest class is over 3x the smallest; returns the ratio."""
    ratio = imbalance_ratio(counts)
    if ratio <= IMBALANCE_RATIO:
        return ratio
    largest, smallest = int(counts.argmax()), int(torch.where(counts > 0, counts, counts.max() + 1).argmin())
    events.note(
        f"the classes are imbalanced: {classes[largest]} has {int(counts[largest])} training images, "
        f"{classes[smallest]} {int(counts[smallest])} ({ratio:.1f}x); accuracy will favour the large classes. "
        f"Options: `class_weights` auto (inverse-frequency loss weights), `sampler` balanced (class-balanced "
        f"sampling); evaluation reports balanced accuracy and per-class recall. "
        f"Now: `class_weights` {class_weights}, `sampler` {sampler}.", warning=True)
    return ratio


def balance(
    labels: torch.Tensor, classes: list[str], class_weights: str = "none", sampler: str = "shuffle"
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Warn about imbalance; return the loss's class weights (`auto`; for multi-hot labels, each label's positive
    weight) and the per-image sampling weights (`balanced`; refused for multi-hot labels), each None when off."""
    counts = class_counts(labels, len(classes))
    if is_multi_hot(labels):
        if sampler == "balanced":
            raise SettingError("sampler", "balanced draws every class equally often, which images with several labels "
                               "each cannot be; for multi-label, `class_weights` auto weighs each label's positives")
        return (positive_weights(counts, len(labels)) if class_weights == "auto" else None), None
    warn_if_imbalanced(counts, classes, class_weights, sampler)
    loss_weights = inverse_frequency_weights(counts) if class_weights == "auto" else None
    sample_weights = balanced_sample_weights(labels, len(classes)) if sampler == "balanced" else None
    return loss_weights, sample_weights
