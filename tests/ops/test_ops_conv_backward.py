"""conv2d_backward against torch autograd, and im2col/col2im as adjoint maps."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.ops.conv import conv2d, conv2d_backward
from cnnlab.ops.im2col import col2im, im2col

from ops_cases import conv_cases

TOL = 1e-10


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


@settings(max_examples=40, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    extra=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, dilation, extra, seed):
    rng = np.random.default_rng(seed)
    shape = (2, 3, *(d * (k - 1) + 1 + e for k, d, e in zip(kernel, dilation, extra)))
    x = rng.normal(size=shape)
    cols = im2col(x, kernel, stride, dilation)
    c = rng.normal(size=cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, shape, kernel, stride, dilation)), rtol=TOL, atol=TOL)
