"""Abstaining: answer only when the top probability reaches a threshold. The accuracy/coverage curve says what each
threshold buys: the fraction of images still answered, and the accuracy on those."""

import torch


def coverage_curve(probabilities: torch.Tensor, labels: torch.Tensor,
                   thresholds: tuple[float, ...] = tuple(i / 20 for i in range(20))) -> list[dict[str, float]]:
    """For each minimum confidence: the coverage (fraction of images answered) and the accuracy of those answered
    (None when none is)."""
    confidence, predicted = probabilities.max(1)
    right = predicted == labels
    rows = []
    for threshold in thresholds:
        answered = confidence >= threshold
        count = int(answered.sum())
        rows.append({"min_confidence": threshold, "coverage": count / max(1, len(labels)),
                     "accuracy": right[answered].double().mean().item() if count else None, "answered": count})
    return rows
