"""The working shown by explain: products at a conv position, pooling windows, the size formula, number text."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.cli.parse import parse_matrix
from cnnlab.errors import CnnlabError
from cnnlab.ops.conv import conv2d
from cnnlab.ops.explain import (
    conv_terms,
    explain_conv,
    explain_pool,
    format_matrix,
    format_number,
    layer_shape,
    pool_terms,
)
from cnnlab.ops.pool import avg_pool2d, max_pool2d

COURSE_INPUT = [[1, 2, 3, 0, 1], [0, 1, 2, 1, 0], [1, 0, 1, 2, 1], [2, 1, 0, 1, 2], [0, 2, 1, 0, 1]]
COURSE_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
POOL_INPUT = [[1, 3, 2, 1], [0, 1, 4, 2], [5, 1, 2, 3], [3, 0, 4, 1]]


def test_course_conv_working():
    assert (
        explain_conv(COURSE_INPUT, COURSE_KERNEL, (0, 0)) == "1*1 + 2*0 + 3*1 + 0*0 + 1*1 + 2*0 + 1*1 + 0*0 + 1*1 = 7"
    )
    assert explain_conv(COURSE_INPUT, COURSE_KERNEL, (2, 2)).endswith(" = 5")


def test_negative_factors_are_bracketed():
    assert explain_conv([[1, -2]], [[-1, 3]], (0, 0)) == "1*(-1) + (-2)*3 = -7"


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    size=st.integers(5, 8),
)
def test_conv_terms_sum_to_the_output_everywhere(seed, stride, padding, dilation, size):
    rng = np.random.default_rng(seed)
    x, w = rng.integers(-5, 6, size=(size, size + 1)), rng.integers(-3, 4, size=(3, 2))
    y = conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    for row, col in np.ndindex(*y.shape):
        terms = conv_terms(x, w, (row, col), stride, padding, dilation)
        assert len(terms) == 6 and sum(a * b for a, b in terms) == y[row, col]


def test_course_pool_working():
    assert explain_pool(POOL_INPUT, 2, (1, 0)) == "max(5, 1, 3, 0) = 5"
    assert explain_pool(POOL_INPUT, 2, (0, 0), mode="avg") == "(1 + 3 + 0 + 1) / 4 = 1.25"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kernel=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 1))
def test_pool_windows_reduce_to_the_output(seed, kernel, stride, padding):
    padding = min(padding, kernel // 2)
    x = np.random.default_rng(seed).integers(-9, 10, size=(6, 5)).astype(float)
    pooled = {"max": max_pool2d(x, kernel, stride, padding), "avg": avg_pool2d(x, kernel, stride, padding)}
    for mode, y in pooled.items():
        for row, col in np.ndindex(*y.shape):
            window = pool_terms(x, kernel, (row, col), stride, padding, mode)
            assert (max(window) if mode == "max" else np.mean(window)) == pytest.approx(y[row, col])


@pytest.mark.parametrize(
    "call",
    [
        lambda: explain_conv(COURSE_INPUT, COURSE_KERNEL, (3, 0)),
        lambda: explain_pool(POOL_INPUT, 2, (0, -1)),
        lambda: explain_pool(POOL_INPUT, 2, (0, 0), mode="median"),
        lambda: explain_conv(np.ones((1, 1, 3, 3)), COURSE_KERNEL, (0, 0)),
    ],
)
def test_bad_explanations_raise(call):
    with pytest.raises(CnnlabError):
        call()


@pytest.mark.parametrize(
    ("value", "text"),
    [(7.0, "7"), (4.000000000000001, "4"), (-0.0, "0"), (1.25, "1.25"), (-2.5, "-2.5"), (1 / 3, "0.3333333333")],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_matrix_is_compact_and_parses_back():
    assert format_matrix(np.array([[7.0, 6.0], [4.0, 5.000000000000001]])) == "[[7,6],[4,5]]"
    big = np.arange(60.0).reshape(3, 20) / 4
    text = format_matrix(big)
    assert text.count("\n") == 2
    np.testing.assert_array_equal(parse_matrix(text), big)


def test_layer_shape_course_example():
    working = layer_shape((3, 224, 224), 7, 2, 3, 1, out_channels=64)
    assert working.output == (64, 112, 112)
    assert working.formulas["H"] == "floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1 = 112"


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@settings(max_examples=60, deadline=None)
@given(
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    kernel=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    padding=st.sampled_from([0, 1, 3, (2, 0), "same", "valid"]),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    out=st.integers(1, 8),
)
def test_layer_shape_matches_torch(size, kernel, stride, padding, dilation, out):
    if padding == "same":
        stride = (1, 1)
    x, w = torch.empty(2, 3, *size, device="meta"), torch.empty(out, 3, *kernel, device="meta")
    try:
        expected = tuple(F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation).shape)
    except RuntimeError:
        with pytest.raises(CnnlabError):
            layer_shape((2, 3, *size), kernel, stride, padding, dilation, out)
        return
    assert layer_shape((2, 3, *size), kernel, stride, padding, dilation, out).output == expected
