"""ECE, NLL and Brier against values worked out by hand, and the accuracy/coverage curve's counts."""

import math

import pytest
import torch

from cnnlab.evaluation.calibration import (brier_score, calibration_metrics, expected_calibration_error,
                                           negative_log_likelihood, reliability)
from cnnlab.evaluation.coverage import coverage_curve

# Four images, three classes: top-1 confidences 0.95 (right), 0.95 (wrong), 0.55 (right), 0.35 (wrong).
PROBABILITIES = torch.tensor([[0.95, 0.03, 0.02], [0.03, 0.95, 0.02], [0.25, 0.20, 0.55], [0.35, 0.33, 0.32]])
LABELS = torch.tensor([0, 0, 2, 1])


def test_ece_matches_the_hand_computed_value_over_15_bins():
    # bins of width 1/15: 0.95 falls in (14/15, 1], 0.55 in (8/15, 9/15], 0.35 in (5/15, 6/15]
    # ECE = 2/4·|1/2 − 0.95| + 1/4·|1 − 0.55| + 1/4·|0 − 0.35| = 0.225 + 0.1125 + 0.0875
    assert expected_calibration_error(PROBABILITIES, LABELS) == pytest.approx(0.425)
    bins = reliability(PROBABILITIES, LABELS)
    assert sum(bins.counts) == 4 and bins.counts[14] == 2 and bins.counts[8] == 1 and bins.counts[5] == 1
    assert bins.accuracy[14] == pytest.approx(0.5) and bins.confidence[8] == pytest.approx(0.55)
    assert bins.accuracy[0] is None and bins.confidence[0] is None  # an empty bin has no mean


def test_a_confidence_on_a_bin_edge_goes_to_the_lower_bin():
    edge = torch.tensor([[8 / 15, 7 / 15]], dtype=torch.float64)
    assert reliability(edge, torch.tensor([0])).counts[7] == 1  # (7/15, 8/15]


def test_nll_and_brier_match_the_hand_computed_values():
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], dtype=torch.float64)
    labels = torch.tensor([0, 2])
    # Brier: (0.3² + 0.2² + 0.1²) and (0.1² + 0.6² + 0.7²), averaged
    assert brier_score(probabilities, labels) == pytest.approx((0.14 + 0.86) / 2)
    assert negative_log_likelihood(probabilities.log(), labels) == pytest.approx(-(math.log(0.7) + math.log(0.3)) / 2)
    metrics = calibration_metrics(probabilities.log(), labels)
    assert metrics["brier"] == pytest.approx(0.5) and set(metrics) == {"ece", "nll", "brier"}


def test_coverage_counts_the_images_answered_at_each_threshold():
    rows = {r["min_confidence"]: r for r in coverage_curve(PROBABILITIES, LABELS, (0.0, 0.5, 0.9, 0.99))}
    assert [rows[t]["answered"] for t in (0.0, 0.5, 0.9, 0.99)] == [4, 3, 2, 0]
    assert rows[0.0]["accuracy"] == pytest.approx(0.5) and rows[0.5]["accuracy"] == pytest.approx(2 / 3)
    assert rows[0.9]["coverage"] == pytest.approx(0.5) and rows[0.99]["accuracy"] is None
