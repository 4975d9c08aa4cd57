"""Parameter counts: the course's published numbers, torchvision's own metadata, and meta-device counting."""

import pytest
import torch

from cnnlab.models import create_model, list_models, model_info

PUBLISHED = {
    "simplecnn": 620_810,
    "lenet5": 61_706,
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
}


@pytest.mark.parametrize("name, count", PUBLISHED.items())
def test_published_parameter_counts(name, count):
    assert model_info(name).params == count


@pytest.mark.parametrize("name", ["simplecnn", "lenet5", "resnet18"])
def test_meta_count_equals_a_real_model(name):
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == model_info(name).params


@pytest.mark.parametrize("info", [i for i in list_models() if i.weights is not None], ids=lambda i: i.name)
def test_counts_agree_with_torchvision_weights_metadata(info):
    weights = next(iter(info.weights))
    assert info.params == weights.meta["num_params"]


def test_params_follow_num_classes_and_in_chans():
    with torch.device("meta"):
        model = create_model("resnet18", num_classes=10, in_chans=1)
    count = sum(p.numel() for p in model.parameters())
    assert count == PUBLISHED["resnet18"] - 990 * 513 - 64 * 2 * 49
