"""He et al.'s CIFAR networks: 6n+2 layers, 16-32-64 widths, plain and residual twins with the same parameters."""

import pytest
import torch
from torch import nn

from cnnlab.models import create_model, list_models
from cnnlab.models.cifar_resnet import DEPTHS


def weight_layers(model: nn.Module) -> int:
    """Conv and Linear layers: the depth He et al. count."""
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())


@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_is_6n_plus_2_and_twins_share_their_parameters(depth):
    plain, residual = create_model(f"plain{depth}"), create_model(f"resnet{depth}")
    assert weight_layers(plain) == weight_layers(residual) == depth
    assert [p.shape for p in plain.parameters()] == [p.shape for p in residual.parameters()]


def test_resnet20_and_resnet56_have_the_papers_sizes():
    counts = {name: sum(p.numel() for p in create_model(name).parameters()) for name in ("resnet20", "resnet56")}
    assert counts == {"resnet20": 269_722, "resnet56": 853_018}  # the paper: 0.27M and 0.85M


def test_stages_are_16_32_64_at_32_16_8_pixels():
    model = create_model("resnet20")
    sizes = []
    x = model.relu(model.bn1(model.conv1(torch.zeros(2, 3, 32, 32))))
    for stage in (model.layer1, model.layer2, model.layer3):
        x = stage(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_the_shortcut_is_what_differs():
    torch.manual_seed(0)
    plain = create_model("plain8").eval()
    residual = create_model("resnet8").eval()
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(2, 16, 32, 32)
    block_p, block_r = plain.layer2[0], residual.layer2[0]
    shortcut = torch.zeros(2, 32, 16, 16)
    shortcut[:, 8:24] = x[:, :, ::2, ::2]  # option A: subsample, zero channels on both sides
    assert torch.allclose(block_r(x), torch.relu(block_p.bn2(block_p.conv2(block_p.relu(block_p.bn1(block_p.conv1(x)))))
                                                 + shortcut), atol=1e-6)
    assert not torch.allclose(block_r(x), block_p(x))


def test_registered_as_two_families_with_the_zoo_interface():
    assert [i.name for i in list_models("cifar-plain")] == [f"plain{d}" for d in DEPTHS]
    assert [i.name for i in list_models("cifar-resnet")] == [f"resnet{d}" for d in DEPTHS]
    model = create_model("resnet32", num_classes=100)
    assert model.get_classifier().out_features == 100 and model.get_submodule(model.cam_layer) is model.layer3
    model.reset_classifier(4)
    assert model.forward_head(model.forward_features(torch.zeros(1, 3, 32, 32))).shape == (1, 4)
