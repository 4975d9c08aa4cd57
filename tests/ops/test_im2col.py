"""im2col and col2im as adjoint maps."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.ops.im2col import col2im, im2col

TOL = 1e-10


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
