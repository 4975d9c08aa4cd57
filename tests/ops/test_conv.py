"""conv2d by all three methods against torch.nn.functional.conv2d, the course's worked example, its errors,
and conv2d_backward against torch autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.errors import CnnlabError
from cnnlab.ops.conv import METHODS, conv2d, conv2d_backward

from ops_cases import conv_cases

TOL = 1e-10
COURSE_INPUT = [[1, 2, 3, 0, 1], [0, 1, 2, 1, 0], [1, 0, 1, 2, 1], [2, 1, 0, 1, 2], [0, 2, 1, 0, 1]]
COURSE_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
COURSE_OUTPUT = [[7, 6, 7], [4, 5, 6], [4, 4, 5]]


def torch_conv(case: dict) -> np.ndarray:
    """The reference: torch's conv2d in float64."""
    b = None if case["b"] is None else torch.from_numpy(case["b"])
    args = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    return F.conv2d(torch.from_numpy(case["x"]), torch.from_numpy(case["w"]), b, **args).numpy()


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("method", list(METHODS))
@settings(max_examples=150, deadline=None)
@given(case=conv_cases())
def test_every_method_matches_torch(method: str, case: dict):
    np.testing.assert_allclose(conv2d(**case, method=method), torch_conv(case), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("method", list(METHODS))
def test_single_matrix_and_unbatched_inputs_match_torch(method: str):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(7, 6)), rng.normal(size=(3, 2))
    expected = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None], padding=(1, 0)).numpy()
    np.testing.assert_allclose(
        conv2d(x, w, 0.5, padding=(1, 0), method=method), expected[0, 0] + 0.5, rtol=TOL, atol=TOL
    )
    x3, w4 = rng.normal(size=(4, 6, 5)), rng.normal(size=(6, 2, 3, 3))
    expected3 = F.conv2d(torch.from_numpy(x3), torch.from_numpy(w4), stride=2, groups=2).numpy()
    np.testing.assert_allclose(conv2d(x3, w4, stride=2, groups=2, method=method), expected3, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("method", ["direct", "im2col"])
def test_course_example_is_exact(method: str):
    assert conv2d(COURSE_INPUT, COURSE_KERNEL, method=method).tolist() == COURSE_OUTPUT


def test_course_example_by_fft_rounds_to_the_answer():
    result = conv2d(COURSE_INPUT, COURSE_KERNEL, method="fft")
    np.testing.assert_allclose(result, COURSE_OUTPUT, rtol=0, atol=1e-9)
    assert np.round(result).tolist() == COURSE_OUTPUT


def test_float32_stays_float32():
    x, w = np.ones((1, 1, 4, 4), dtype=np.float32), np.ones((1, 1, 2, 2), dtype=np.float32)
    assert all(conv2d(x, w, method=m).dtype == np.float32 for m in METHODS)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"x": np.ones((4, 4)), "w": np.ones((5, 5))}, "padded input is only 4"),
        ({"x": np.ones((1, 3, 5, 5)), "w": np.ones((4, 1, 3, 3)), "groups": 2}, "groups=2 must divide"),
        ({"x": np.ones((1, 3, 5, 5)), "w": np.ones((4, 2, 3, 3))}, "the input has 3"),
        ({"x": np.ones((1, 2, 5, 5)), "w": np.ones((4, 2, 3, 3)), "b": np.ones(3)}, "bias needs 4 values"),
        ({"x": np.ones((5, 5)), "w": np.ones((1, 1, 3, 3))}, "2-D (kh, kw) kernel"),
        ({"x": np.ones((1, 1, 5, 5)), "w": np.ones((3, 3))}, "(C_out, C_in/groups, kh, kw)"),
        ({"x": np.ones(5), "w": np.ones(3)}, "(H, W), (C, H, W) or (N, C, H, W)"),
        ({"x": np.ones((5, 5)), "w": np.ones((3, 3)), "stride": 2, "padding": "same"}, "needs stride 1"),
        ({"x": np.ones((5, 5)), "w": np.ones((3, 3)), "padding": "full"}, "unknown padding"),
        ({"x": np.ones((5, 5)), "w": np.ones((3, 3)), "stride": 0}, "must be >= 1"),
        ({"x": np.ones((5, 5)), "w": np.ones((3, 3)), "stride": (1, 2, 3)}, "stride must be an int or a pair"),
        ({"x": np.ones((5, 5)), "w": np.ones((3, 3)), "method": "winograd"}, "choose one of direct, im2col, fft"),
    ],
)
def test_impossible_convolutions_raise_one_line_errors(kwargs: dict, fragment: str):
    with pytest.raises(CnnlabError) as info:
        conv2d(**kwargs)
    message = str(info.value)
    assert fragment in message and "\n" not in message


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@settings(max_examples=120, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_backward_matches_torch_autograd(case: dict, seed: int):
    geometry = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    grad_out = np.random.default_rng(seed).normal(size=conv2d(case["x"], case["w"], **geometry).shape)
    x = torch.from_numpy(case["x"]).requires_grad_()
    w = torch.from_numpy(case["w"]).requires_grad_()
    b = torch.zeros(case["w"].shape[0], dtype=torch.float64, requires_grad=True)
    F.conv2d(x, w, b, **geometry).backward(torch.from_numpy(grad_out))
    grad_x, grad_w, grad_b = conv2d_backward(grad_out, case["x"], case["w"], **geometry)
    np.testing.assert_allclose(grad_x, x.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad_w, w.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad_b, b.grad.numpy(), rtol=TOL, atol=TOL)


def test_backward_of_a_single_matrix_keeps_its_shapes():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(6, 5)), rng.normal(size=(3, 2))
    grad_out = rng.normal(size=(4, 4))
    grad_x, grad_w, grad_b = conv2d_backward(grad_out, x, w)
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    F.conv2d(xt[None, None], wt[None, None]).backward(torch.from_numpy(grad_out)[None, None])
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad_w, wt.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad_b, [grad_out.sum()], rtol=TOL, atol=TOL)
