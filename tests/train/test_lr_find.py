"""The learning-rate range test: smoothing, the suggestion, the sweep and its files, and bad settings."""

import json
import math

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.settings import resolve
from cnnlab.train.lr_find import Smoother, find_lr, suggestions


def smooth(losses: list[float], beta: float) -> list[float]:
    """The smoothed value after each loss."""
    smoother = Smoother(beta)
    return [smoother.update(loss) for loss in losses]


def test_smoothing_is_bias_corrected():
    assert smooth([2.0] * 5, beta=0.9) == pytest.approx([2.0] * 5)  # no pull towards zero at the start
    assert smooth([1.0, 3.0], beta=0.5) == pytest.approx([1.0, (0.25 * 1 + 0.5 * 3) / 0.75])


def test_suggestion_is_the_steepest_fall_before_the_minimum():
    lrs = [10 ** (-6 + i * 0.25) for i in range(25)]
    # a curve flat, then falling fastest between 1e-3 and 1e-2.5, then bottoming out and rising
    losses = [2.0] * 10 + [1.9, 1.4, 1.2, 1.1, 1.05, 1.0, 1.2, 2.0] + [3.0] * 7
    steepest, minimum = suggestions(lrs, losses)
    assert steepest == pytest.approx(lrs[11])
    assert minimum == pytest.approx(lrs[15])


def test_sweep_grows_geometrically_and_writes_its_files(colour_folder, tmp_path):
    config = resolve(data=str(colour_folder), out=str(tmp_path), batch_size=16, optimizer="sgd", seed=0)
    result = find_lr(config, start=1e-4, end=1e3, steps=40)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert ratios == pytest.approx([(1e3 / 1e-4) ** (1 / 39)] * len(ratios))
    assert result.lrs[0] == pytest.approx(1e-4)
    assert len(result.lrs) < 40  # SGD at a rate of hundreds diverges, which ends the sweep early
    assert result.lrs[0] < result.suggestion < result.lrs[-1]
    saved = json.loads((result.path / "lr_find.json").read_text())
    assert saved["suggestion"] == result.suggestion and len(saved["losses"]) == len(result.lrs)
    assert (result.path / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(math.isfinite(x) for x in result.losses[:-1])


@pytest.mark.parametrize("start, end, steps", [(1.0, 0.1, 50), (0.0, 1.0, 50), (1e-5, 1.0, 2)])
def test_bad_sweeps_are_refused(colour_folder, tmp_path, start, end, steps):
    config = resolve(data=str(colour_folder), out=str(tmp_path))
    with pytest.raises(CnnlabError, match="`st"):
        find_lr(config, start=start, end=end, steps=steps)
