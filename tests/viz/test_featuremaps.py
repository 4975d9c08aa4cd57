"""feature_maps: what the chosen layers output for one image."""

import torch

from cnnlab.models import create_model
from cnnlab.viz.featuremaps import feature_maps


def test_feature_maps_are_the_layers_outputs():
    model = create_model("simplecnn", num_classes=10).eval()
    image = torch.randn(3, 32, 32)
    maps = feature_maps(model, image, ["features.0", "features.2.0"])
    with torch.no_grad():
        first = model.features[0](image[None])[0]
    assert torch.allclose(maps["features.0"], first)
    assert maps["features.2.0"].shape == (128, 8, 8)
