"""EfficientNet-Lite: the Lite scaling (fixed stem and head, first and last stage of one block), TensorFlow's SAME
padding, and the parameter counts of the ImageNet weights."""

import pytest
import torch

from cnnlab.models import create_model
from cnnlab.models.efficientnet_lite import SamePadConv, scaled_depth, scaled_width


@pytest.mark.parametrize("name, params, blocks", [("efficientnet_lite0", 4_652_008, 16),
                                                   ("efficientnet_lite1", 5_416_680, 21),
                                                   ("efficientnet_lite2", 6_092_072, 21)])
def test_the_variants_have_the_weights_parameters_and_blocks(name, params, blocks):
    with torch.device("meta"):
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == params
    assert sum(len(stage) for stage in model.features[1:8]) == blocks


def test_lite2_widths_round_to_multiples_of_eight_and_depths_round_up():
    assert [scaled_width(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]
    assert [scaled_depth(b, 1.2) for b in (2, 2, 3, 3, 4)] == [3, 3, 4, 4, 5]


@pytest.mark.parametrize("size, expected_pad", [(224, (0, 1)), (225, (1, 1))])
def test_a_stride_2_conv_pads_as_tensorflow_same_does(size, expected_pad):
    conv = SamePadConv(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    out = conv(torch.ones(1, 1, size, size))
    assert out.shape[-1] == -(-size // 2)  # ceil(size / stride)
    before, after = expected_pad
    # a corner sums only the input pixels it covers: 2x2 where padding came before the window, 3x3 otherwise
    assert out[0, 0, 0, 0].item() == (2 if before else 3) ** 2 and out[0, 0, -1, -1].item() == (2 if after else 3) ** 2


def test_features_and_head_split_and_a_new_head():
    model = create_model("efficientnet_lite0", num_classes=5).eval()
    x = torch.randn(2, 3, 96, 96)
    features = model.forward_features(x)
    assert features.shape == (2, 1280, 3, 3)
    assert torch.allclose(model.forward_head(features), model(x))
    assert model.forward_head(features, pre_logits=True).shape == (2, 1280)
