"""The zoo's building blocks: squeeze-and-excitation scales each channel by its gate."""

import torch

from cnnlab.models.layers import SqueezeExcite


def test_squeeze_excite_scales_channels_by_its_gate():
    se = SqueezeExcite(32)
    x = torch.randn(2, 32, 5, 5)
    with torch.no_grad():
        se.expand.weight.zero_()
        se.expand.bias.copy_(torch.linspace(-3, 3, 32))
        expected = x * torch.sigmoid(torch.linspace(-3, 3, 32)).view(1, 32, 1, 1)
        torch.testing.assert_close(se(x), expected)
