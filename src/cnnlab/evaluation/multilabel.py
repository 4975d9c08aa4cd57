"""Metrics of a multi-label model, whose images each have any number of the labels: per-label average precision and
their mean (mAP), precision/recall/F1 at per-label thresholds with their micro and macro means, and the thresholds
that maximise each label's F1 on validation images.

Probabilities are (N, labels) sigmoids, targets (N, labels) 0/1. A label is answered when its probability is at
least its threshold. Average precision is the mean, over a label's positive images, of the precision among the images
ranked at or above each of them (ties in the probabilities are ranked by image order). A label without positive
images in the split has no average precision (NaN in the list, left out of mAP) and no recall.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_THRESHOLD = 0.5  # where no validation image says better (a label without positive images there)


def average_precision(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per label (L,): the average precision of ranking the images by probability; NaN where no image has it."""
    order = probabilities.double().argsort(dim=0, descending=True, stable=True)
    hits = targets.double().gather(0, order)
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)[:, None]
    positives = hits.sum(0)
    return torch.where(positives > 0, (precision * hits).sum(0) / positives.clamp(min=1), float("nan"))


def mean_average_precision(probabilities: torch.Tensor, targets: torch.Tensor) -> float:
    """The mean of the labels' average precisions (the labels with positive images)."""
    ap = average_precision(probabilities, targets)
    return float(ap[~ap.isnan()].mean()) if (~ap.isnan()).any() else float("nan")


def tune_thresholds(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per label (L,): the threshold that maximises its F1 on these images, halfway between the probabilities of
    the last image answered and the first not (DEFAULT_THRESHOLD for a label no image has). Cutting the ranking after
    k images gives F1 = 2 TP(k) / (k + P), so every cut of every label is one cumulative sum."""
    scores = probabilities.double().sort(0, descending=True).values
    order = probabilities.double().argsort(dim=0, descending=True, stable=True)
    hits = targets.double().gather(0, order)
    n = len(scores)
    if n == 0:
        return torch.full((probabilities.shape[1],), DEFAULT_THRESHOLD)
    positives = hits.sum(0)
    k = torch.arange(1, n + 1, dtype=torch.float64)[:, None]
    f1 = 2 * hits.cumsum(0) / (k + positives)
    cuttable = torch.ones_like(f1, dtype=torch.bool)
    cuttable[:-1] = scores[:-1] > scores[1:]  # no cut between equal probabilities
    best = torch.where(cuttable, f1, -1.0).argmax(0)
    after = torch.cat([scores[1:], scores[-1:]]).gather(0, best[None])[0]  # the last cut: its own probability
    thresholds = (scores.gather(0, best[None])[0] + after) / 2
    return torch.where(positives > 0, thresholds, DEFAULT_THRESHOLD).float()


@dataclass
class LabelReport:
    """A multi-label model's metrics on a split: per label (AP, threshold, precision, recall, F1, images with it),
    their means, and how often the whole set of labels (exact match) and each label decision (label accuracy) is
    right."""

    average_precision: list[float]
    thresholds: list[float]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    map: float
    micro_f1: float
    macro_f1: float
    exact_match: float
    label_accuracy: float


def label_report(probabilities: torch.Tensor, targets: torch.Tensor, thresholds: torch.Tensor) -> LabelReport:
    """Every metric of a multi-label evaluation, answering each label at its threshold. The macro mean is over the
    labels with positive images in the split."""
    answered = probabilities >= thresholds.to(probabilities)[None]
    truth = targets.bool()
    tp = (answered & truth).sum(0).double()
    fp = (answered & ~truth).sum(0).double()
    fn = (~answered & truth).sum(0).double()
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), 0.0)
    recall = torch.where(tp + fn > 0, tp / (tp + fn).clamp(min=1), 0.0)
    f1 = torch.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), 0.0)
    present = (tp + fn) > 0
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    return LabelReport(
        average_precision=average_precision(probabilities, targets).tolist(),
        thresholds=thresholds.tolist(),
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=truth.sum(0).tolist(),
        map=mean_average_precision(probabilities, targets),
        micro_f1=float(2 * tp.sum() / total) if total > 0 else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        exact_match=float((answered == truth).all(1).double().mean()),
        label_accuracy=float((answered == truth).double().mean()),
    )


def multi_label_loss(logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor | None = None,
                     label_smoothing: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy of each label's sigmoid, averaged over images and labels; `label_smoothing` e moves each
    0/1 target e/2 toward the other, `pos_weight` weighs each label's positive images."""
    targets = targets.to(logits.dtype)
    if label_smoothing:
        targets = targets * (1 - label_smoothing) + label_smoothing / 2
    return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
