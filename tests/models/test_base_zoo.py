"""Every zoo model: torchvision compatibility (VGG, ResNet), the features/head split and the classifier swap."""

from dataclasses import dataclass

import pytest
import torch
import torchvision
from torch import nn

from cnnlab.models import create_model, list_models

ALL = [info.name for info in list_models()]
TORCHVISION = [info.name for info in list_models() if info.family in ("vgg", "resnet")]


def randomize_(model: nn.Module) -> None:
    """Give every bias and BatchNorm statistic random values, so a swapped tensor would change the output."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            if isinstance(getattr(module, "bias", None), torch.Tensor):
                module.bias.normal_(0, 0.1)


@dataclass
class Built:
    """A model in eval mode with random weights, the torchvision twin they came from, and one forward pass."""

    model: nn.Module
    reference: nn.Module | None
    x: torch.Tensor
    features: torch.Tensor
    logits: torch.Tensor


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest) -> Built:
    """Build `request.param` (loading torchvision's weights when it has a twin) and run it on two 32x32 images."""
    name = request.param
    torch.manual_seed(0)
    reference = None
    if name in TORCHVISION:
        reference = getattr(torchvision.models, name)(weights=None)
        randomize_(reference)
        with torch.device("meta"):
            model = create_model(name)
        model.load_state_dict(reference.state_dict(), strict=True, assign=True)
        reference.eval()
    else:
        model = create_model(name)
        randomize_(model)
    model.eval()
    x = torch.randn(2, model.default_cfg["in_chans"], 32, 32)
    with torch.no_grad():
        return Built(model, reference, x, model.forward_features(x), model(x))


@pytest.mark.parametrize("built", TORCHVISION, indirect=True)
def test_torchvision_state_dict_loads_strictly_and_outputs_match(built):
    with torch.no_grad():
        theirs = built.reference(built.x)
    assert torch.isfinite(theirs).all()
    torch.testing.assert_close(built.logits, theirs, rtol=1e-5, atol=1e-5)
    assert list(built.model.state_dict()) == list(built.reference.state_dict())


@pytest.mark.parametrize("built", ALL, indirect=True)
def test_forward_is_head_of_features(built):
    assert built.features.ndim == 4 and built.features.shape[0] == 2
    assert built.logits.shape == (2, built.model.num_classes)
    with torch.no_grad():
        torch.testing.assert_close(built.model.forward_head(built.features), built.logits)


@pytest.mark.parametrize("built", ALL, indirect=True)
def test_pre_logits_are_the_classifier_input(built):
    classifier = built.model.get_classifier()
    with torch.no_grad():
        pre_logits = built.model.forward_head(built.features, pre_logits=True)
        torch.testing.assert_close(classifier(pre_logits), built.logits)
    assert pre_logits.shape == (2, classifier.in_features)


@pytest.mark.parametrize("name", ALL)
def test_reset_classifier_replaces_only_the_head(name):
    with torch.device("meta"):
        model = create_model(name)
        x = torch.empty(2, model.default_cfg["in_chans"], 32, 32)
        old = model.get_classifier()
        backbone = {key: p for key, p in model.named_parameters() if not any(p is q for q in old.parameters())}
        model.reset_classifier(7)
        logits = model(x)
    new = model.get_classifier()
    assert new is not old and (new.in_features, new.out_features) == (old.in_features, 7)
    assert model.num_classes == 7 and logits.shape == (2, 7)
    remaining = dict(model.named_parameters())
    assert all(remaining[key] is p for key, p in backbone.items())
    assert len(remaining) == len(backbone) + 2
