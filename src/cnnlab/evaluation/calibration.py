"""Whether a model's probabilities mean what they say: expected calibration error (ECE, Guo et al. 2017: 15 equal-width
confidence bins), negative log-likelihood, Brier score, and the reliability diagram's bins."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

ECE_BINS = 15  # as Guo et al., "On Calibration of Modern Neural Networks" (2017)


@dataclass
class Reliability:
    """Per confidence bin (equal widths over [0, 1]): how many predictions fell in it, their mean confidence and the
    fraction of them that were right (None for an empty bin)."""

    edges: list[float]
    counts: list[int]
    confidence: list[float | None]
    accuracy: list[float | None]


def reliability(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> Reliability:
    """The top-1 predictions of (N, C) probabilities sorted into `bins` bins by confidence; a bin holds the
    confidences in (lower, upper], the first also 0."""
    confidence, predicted = probabilities.double().max(1)
    right = (predicted == labels).double()
    index = (confidence * bins).ceil().long().clamp(1, bins) - 1
    counts = torch.bincount(index, minlength=bins)
    sums = torch.bincount(index, weights=confidence, minlength=bins)
    hits = torch.bincount(index, weights=right, minlength=bins)
    def mean(totals: torch.Tensor) -> list[float | None]:
        return [total / n if n else None for total, n in zip(totals.tolist(), counts.tolist())]

    return Reliability(torch.linspace(0, 1, bins + 1).tolist(), counts.tolist(), mean(sums), mean(hits))


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """Σ_bins (n_b / N) · |accuracy_b − confidence_b| over the top-1 predictions."""
    table = reliability(probabilities, labels, bins)
    total = sum(table.counts)
    return sum(n / total * abs(a - c) for n, a, c in zip(table.counts, table.accuracy, table.confidence) if n)


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean −log p(true class): the cross-entropy of the logits."""
    return F.cross_entropy(logits.double(), labels).item()


def brier_score(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over images of Σ_classes (p − onehot)²: 0 is perfect, 2 the worst (Brier 1950, multi-class form)."""
    onehot = F.one_hot(labels, probabilities.shape[1]).double()
    return ((probabilities.double() - onehot) ** 2).sum(1).mean().item()


def calibration_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """ECE (15 bins), NLL and Brier score of logits (N, C) against labels (N,)."""
    probabilities = logits.double().softmax(1)
    return {"ece": expected_calibration_error(probabilities, labels), "nll": negative_log_likelihood(logits, labels),
            "brier": brier_score(probabilities, labels)}
