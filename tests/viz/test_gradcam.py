"""Grad-CAM and Grad-CAM++ against pytorch-grad-cam, on a case with a known answer, and their errors."""

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.viz.gradcam import grad_cam

ORACLES = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}


@pytest.mark.parametrize("method", ORACLES)
@pytest.mark.parametrize("name", ["simplecnn", "resnet18:stem=cifar", "vgg11_bn", "lenet5"])
def test_grad_cam_agrees_with_pytorch_grad_cam(name, method):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).eval()
    images = torch.randn(4, model.default_cfg["input_size"][0], 32, 32)
    ours = grad_cam(model, images, method=method)
    oracle = ORACLES[method](model=model, target_layers=[model.get_submodule(ours.layer)])
    theirs = oracle(input_tensor=images, targets=[ClassifierOutputTarget(int(c)) for c in ours.classes])
    for mine, reference in zip(ours.maps.numpy(), theirs):
        assert np.corrcoef(mine.ravel(), reference.ravel())[0, 1] >= 0.99


class Spotter(nn.Module):
    """Class 0 is the evidence in channel 0, class 1 in channel 1: global average pooling then identity logits."""

    cam_layer = "features"

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


def test_grad_cam_lights_up_where_the_class_evidence_is():
    images = torch.zeros(1, 2, 16, 16)
    images[0, 0, 2:6, 2:6] = 1.0  # evidence for class 0 in the top-left
    images[0, 1, 10:14, 9:13] = 1.0  # evidence for class 1 in the bottom-right
    for target, (row, col) in ((0, (3, 3)), (1, (11, 10))):
        maps = grad_cam(Spotter(), images, classes=torch.tensor([target])).maps[0]
        assert maps[row, col] == pytest.approx(1.0, abs=1e-3)
        assert maps[15 - row, 15 - col] < 0.1


def test_grad_cam_refuses_an_unknown_layer_and_method():
    model = create_model("simplecnn", num_classes=10)
    with pytest.raises(CnnlabError, match="features.0.0.conv, features.1.0.conv"):
        grad_cam(model, torch.randn(1, 3, 32, 32), layer="nope")
    with pytest.raises(CnnlabError, match="gradcam\\+\\+"):
        grad_cam(model, torch.randn(1, 3, 32, 32), method="scorecam")
