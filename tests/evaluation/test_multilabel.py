"""Multi-label metrics against scikit-learn and hand-worked cases: average precision, F1-maximising thresholds, the
per-label report, and the per-label sigmoid loss."""

import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, f1_score

from cnnlab.evaluation.multilabel import (DEFAULT_THRESHOLD, average_precision, label_report, mean_average_precision,
                                          multi_label_loss, tune_thresholds)


def random_case(seed: int, images: int = 200, labels: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities that lean toward the truth (no ties), and 0/1 targets."""
    generator = torch.Generator().manual_seed(seed)
    targets = (torch.rand(images, labels, generator=generator) < 0.3).to(torch.uint8)
    probabilities = (targets + torch.randn(images, labels, generator=generator)).sigmoid()
    return probabilities, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_precision_is_scikit_learns(seed):
    probabilities, targets = random_case(seed)
    ours = average_precision(probabilities, targets)
    theirs = [average_precision_score(targets[:, j].numpy(), probabilities[:, j].numpy()) for j in range(5)]
    assert ours.tolist() == pytest.approx(theirs, abs=1e-9)
    assert mean_average_precision(probabilities, targets) == pytest.approx(sum(theirs) / 5, abs=1e-9)


def test_average_precision_by_hand_and_a_label_without_positives():
    probabilities = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    targets = torch.tensor([[1, 0], [0, 0], [1, 0], [0, 0]])
    ap = average_precision(probabilities, targets)
    assert ap[0].item() == pytest.approx((1 / 1 + 2 / 3) / 2) and math.isnan(ap[1].item())
    assert mean_average_precision(probabilities, targets) == pytest.approx((1 + 2 / 3) / 2)  # the NaN left out


@pytest.mark.parametrize("seed", [0, 1])
def test_tuned_thresholds_reach_the_best_f1_of_any_threshold(seed):
    probabilities, targets = random_case(seed, images=120, labels=3)
    thresholds = tune_thresholds(probabilities, targets)
    for j in range(3):
        column, truth = probabilities[:, j], targets[:, j].numpy()
        best = max(f1_score(truth, (column >= t).numpy(), zero_division=0) for t in column.tolist())
        ours = f1_score(truth, (column >= thresholds[j]).numpy(), zero_division=0)
        assert ours == pytest.approx(best)
        answered = column >= thresholds[j]
        assert answered.any() and (~answered).any()  # here the best cut is inside the ranking
        assert column[~answered].max() < thresholds[j] < column[answered].min()  # halfway: never on a probability


def test_thresholds_never_cut_between_equal_probabilities_and_default_without_positives():
    probabilities = torch.tensor([[0.9, 0.5], [0.6, 0.5], [0.6, 0.5], [0.2, 0.5]])
    targets = torch.tensor([[1, 0], [1, 0], [0, 0], [0, 0]])
    thresholds = tune_thresholds(probabilities, targets)
    # cutting after the 0.9 gives F1 2/3; both 0.6s (one right, one wrong) give 2*2/(3+2) = 0.8; the first wins
    assert thresholds[0].item() == pytest.approx((0.6 + 0.2) / 2)
    assert thresholds[1].item() == DEFAULT_THRESHOLD


def test_the_label_report_by_hand():
    probabilities = torch.tensor([[0.9, 0.2], [0.4, 0.7], [0.6, 0.1], [0.1, 0.8]], dtype=torch.float64)
    targets = torch.tensor([[1, 0], [1, 1], [0, 0], [0, 1]])
    report = label_report(probabilities, targets, torch.tensor([0.5, 0.5]))
    # label 0 answered for images 0 and 2: TP 1, FP 1, FN 1; label 1 for images 1 and 3: TP 2
    assert report.precision == [0.5, 1.0] and report.recall == [0.5, 1.0] and report.f1 == [0.5, 1.0]
    assert report.micro_f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 1)) and report.macro_f1 == pytest.approx(0.75)
    assert report.exact_match == 0.5 and report.label_accuracy == 0.75 and report.support == [2, 2]
    assert report.micro_f1 == pytest.approx(f1_score(targets.numpy(), (probabilities >= 0.5).numpy(), average="micro"))


def test_the_loss_is_the_sigmoid_cross_entropy_with_smoothed_targets_and_positive_weights():
    logits, targets = torch.randn(6, 4), (torch.rand(6, 4) < 0.5).to(torch.uint8)
    assert multi_label_loss(logits, targets) == pytest.approx(
        F.binary_cross_entropy(logits.sigmoid(), targets.float()).item(), rel=1e-5)
    smoothed = targets.float() * 0.8 + 0.1
    assert multi_label_loss(logits, targets, label_smoothing=0.2) == pytest.approx(
        F.binary_cross_entropy(logits.sigmoid(), smoothed).item(), rel=1e-5)
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    by_hand = -(weights * smoothed * F.logsigmoid(logits) + (1 - smoothed) * F.logsigmoid(-logits)).mean()
    assert multi_label_loss(logits, targets, weights, 0.2) == pytest.approx(by_hand.item(), rel=1e-5)
