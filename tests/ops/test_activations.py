"""ReLU, Leaky ReLU and GELU (exact and tanh) against torch in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from cnnlab.errors import CnnlabError
from cnnlab.ops.activations import activate, gelu, leaky_relu, relu

TOL = 1e-10
values = arrays(np.float64, array_shapes(min_dims=1, max_dims=4, max_side=5), elements=st.floats(-40, 40))


@settings(max_examples=60, deadline=None)
@given(x=values, slope=st.floats(0, 1))
def test_relu_and_leaky_relu_match_torch(x: np.ndarray, slope: float):
    t = torch.from_numpy(x)
    np.testing.assert_allclose(relu(x), F.relu(t).numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(leaky_relu(x), F.leaky_relu(t).numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(leaky_relu(x, slope), F.leaky_relu(t, slope).numpy(), rtol=TOL, atol=TOL)


@settings(max_examples=60, deadline=None)
@given(x=values)
def test_gelu_exact_and_tanh_match_torch(x: np.ndarray):
    t = torch.from_numpy(x)
    np.testing.assert_allclose(gelu(x), F.gelu(t).numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(gelu(x, approximate="tanh"), F.gelu(t, approximate="tanh").numpy(), rtol=TOL, atol=TOL)


def test_gelu_on_a_dense_grid_matches_torch():
    x = np.linspace(-10, 10, 20001)
    np.testing.assert_allclose(gelu(x), F.gelu(torch.from_numpy(x)).numpy(), rtol=TOL, atol=TOL)
    assert not np.allclose(gelu(x), gelu(x, approximate="tanh"), rtol=TOL, atol=TOL)


def test_activate_by_name():
    x = np.array([-2.0, 3.0])
    assert activate(x, "relu").tolist() == [0, 3]
    assert activate(x, "leaky_relu", slope=0.5).tolist() == [-1, 3]
    assert np.array_equal(activate(x, "gelu_tanh"), gelu(x, approximate="tanh"))
    assert np.array_equal(activate(x, "gelu"), gelu(x))


@pytest.mark.parametrize("call", [lambda: gelu([1.0], approximate="sigmoid"), lambda: activate([1.0], "swish")])
def test_unknown_names_raise(call):
    with pytest.raises(CnnlabError):
        call()
