"""Hypothesis strategies shared by the ops tests: random but valid convolutions."""

import numpy as np
from hypothesis import strategies as st


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    """A random but valid convolution: shapes, groups, stride, padding (int, pair, 'same', 'valid'), dilation, bias."""
    groups = draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    style = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if style == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if style == "int":
        pads = (draw(st.integers(0, 2)),) * 2
        padding = pads[0]
    elif style == "pair":
        pads = padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    else:
        pads, padding = (0, 0), style
    sizes = []
    for k, d, p in zip(kernel, dilation, pads):
        smallest = 1 if style == "same" else max(1, d * (k - 1) + 1 - 2 * p)
        sizes.append(draw(st.integers(smallest, smallest + 5)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    x = rng.normal(size=(draw(st.integers(1, 2)), channels, *sizes))
    w = rng.normal(size=(out_channels, channels // groups, *kernel))
    b = rng.normal(size=out_channels) if draw(st.booleans()) else None
    return {"x": x, "w": w, "b": b, "stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
