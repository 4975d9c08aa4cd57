"""Precision choice: `fastest` trains in bf16 on a CPU only where a measured conv step is faster in it."""

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.train import precision
from cnnlab.settings import Settings


@pytest.mark.parametrize("speedup, expected", [(3.3, torch.bfloat16), (1.1, torch.float32), (0.5, torch.float32)])
def test_fastest_follows_the_measured_speedup(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "bf16_speedup", lambda device: speedup)
    assert precision.pick_dtype("fastest", torch.device("cpu")) == expected


def test_the_probe_measures_a_positive_ratio():
    assert precision.bf16_speedup(torch.device("cpu")) > 0


def test_auto_stays_fp32_on_cpu_and_explicit_choices_are_kept():
    cpu = torch.device("cpu")
    assert precision.pick_dtype("auto", cpu) == torch.float32
    assert precision.pick_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(CnnlabError, match="fastest"):
        Settings.of(precision="fp8")
