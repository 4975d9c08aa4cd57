"""Classification metrics from logits: top-k accuracy, confusion matrix, per-class precision/recall/F1."""

from dataclasses import dataclass

import torch


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of samples whose label is among the k highest logits."""
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item()


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """matrix[true, predicted] = count."""
    index = labels.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


@dataclass
class ClassReport:
    """Per-class precision, recall, F1 and support, plus accuracy, balanced accuracy and top-5."""

    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    accuracy: float
    balanced_accuracy: float
    top5: float
    confusion: list[list[int]]


def class_report(logits: torch.Tensor, labels: torch.Tensor) -> ClassReport:
    """Every metric of `cnnlab evaluate` from logits (N, C) and labels (N,)."""
    num_classes = logits.shape[1]
    matrix = confusion_matrix(logits.argmax(1), labels, num_classes).double()
    hits = matrix.diagonal()
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    precision = torch.where(predicted > 0, hits / predicted.clamp(min=1), 0.0)
    recall = torch.where(support > 0, hits / support.clamp(min=1), 0.0)
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0)
    present = support > 0
    return ClassReport(
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=support.long().tolist(),
        accuracy=(hits.sum() / support.sum()).item(),
        balanced_accuracy=recall[present].mean().item(),
        top5=topk_accuracy(logits, labels, 5),
        confusion=matrix.long().tolist(),
    )


def most_confused(confusion: list[list[int]], classes: list[str], top: int = 5) -> list[tuple[str, str, int]]:
    """The (true, predicted, count) pairs with the most mistakes."""
    pairs = [
        (classes[t], classes[p], n) for t, row in enumerate(confusion) for p, n in enumerate(row) if t != p and n > 0
    ]
    return sorted(pairs, key=lambda pair: -pair[2])[:top]
