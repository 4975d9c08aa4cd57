"""Max, average and global average pooling against torch, and the course's 4x4 example."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.errors import CnnlabError
from cnnlab.ops.pool import avg_pool2d, global_avg_pool2d, max_pool2d

TOL = 1e-10
COURSE_INPUT = [[1, 3, 2, 1], [0, 1, 4, 2], [5, 1, 2, 3], [3, 0, 4, 1]]


@st.composite
def pool_cases(draw: st.DrawFn) -> dict:
    """A random valid pooling: kernel, stride (or None: the kernel), padding up to half the kernel, input."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    sizes = [draw(st.integers(max(1, k - 2 * p), k + 6)) for k, p in zip(kernel, padding)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(size=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sizes))
    return {"x": x, "kernel": kernel, "stride": stride, "padding": padding}


def torch_args(case: dict) -> tuple:
    """The case as arguments of torch's pooling functions."""
    return torch.from_numpy(case["x"]), case["kernel"], case["stride"], case["padding"]


@settings(max_examples=80, deadline=None)
@given(case=pool_cases())
def test_max_pool_matches_torch(case: dict):
    np.testing.assert_allclose(max_pool2d(**case), F.max_pool2d(*torch_args(case)).numpy(), rtol=TOL, atol=TOL)


@settings(max_examples=80, deadline=None)
@given(case=pool_cases())
def test_avg_pool_matches_torch(case: dict):
    np.testing.assert_allclose(avg_pool2d(**case), F.avg_pool2d(*torch_args(case)).numpy(), rtol=TOL, atol=TOL)


@settings(max_examples=30, deadline=None)
@given(case=pool_cases())
def test_global_avg_pool_matches_adaptive_avg_pool(case: dict):
    expected = F.adaptive_avg_pool2d(torch.from_numpy(case["x"]), 1).numpy()
    np.testing.assert_allclose(global_avg_pool2d(case["x"]), expected, rtol=TOL, atol=TOL)


def test_course_example():
    assert max_pool2d(COURSE_INPUT, 2).tolist() == [[3, 4], [5, 4]]
    assert avg_pool2d(COURSE_INPUT, 2, stride=2).tolist() == [[1.25, 2.25], [2.25, 2.5]]
    assert global_avg_pool2d(COURSE_INPUT).tolist() == [[33 / 16]]


def test_max_pool_padding_never_wins():
    assert max_pool2d(-np.ones((2, 2)), 2, stride=1, padding=1).tolist() == [[-1, -1, -1]] * 3


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kernel": 2, "padding": 2}, "at most half the kernel"),
        ({"kernel": 5}, "padded input is only 4"),
        ({"kernel": 2, "stride": 0}, "must be at least 1"),
        ({"kernel": "2"}, "kernel must be an int or a pair"),
    ],
)
def test_impossible_pooling_raises(kwargs: dict, fragment: str):
    with pytest.raises(CnnlabError, match=fragment):
        max_pool2d(COURSE_INPUT, **kwargs)
