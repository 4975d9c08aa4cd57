"""Seeing inside: Grad-CAM against pytorch-grad-cam and on a case with a known answer, filters, feature maps,
curves, and the `cnnlab viz` verbs on a trained run."""

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from typer.testing import CliRunner

from cnnlab.cli.app import app
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.viz.curves import save_curves
from cnnlab.viz.featuremaps import feature_maps
from cnnlab.viz.filters import filter_tiles
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


def test_filter_tiles_put_zero_at_grey_and_keep_colour_filters_whole():
    weight = torch.zeros(2, 3, 3, 3)
    weight[0, 0, 1, 1], weight[0, 2, 0, 0] = 2.0, -1.0
    tiles = filter_tiles(weight)
    assert tiles.shape == (2, 3, 3, 3)
    assert tiles[0, 0, 1, 1] == 1.0 and tiles[0, 2, 0, 0] == 0.25 and tiles[0, 1, 2, 2] == 0.5
    assert torch.all(tiles[1] == 0.5)  # an all-zero filter stays grey
    assert filter_tiles(torch.randn(4, 8, 3, 3)).shape == (32, 1, 3, 3)


def test_feature_maps_are_the_layers_outputs():
    model = create_model("simplecnn", num_classes=10).eval()
    image = torch.randn(3, 32, 32)
    maps = feature_maps(model, image, ["features.0", "features.2.0"])
    with torch.no_grad():
        first = model.features[0](image[None])[0]
    assert torch.allclose(maps["features.0"], first)
    assert maps["features.2.0"].shape == (128, 8, 8)


def test_curves_overlay_runs_and_refuse_a_run_without_metrics(trained_run, tmp_path):
    run, _ = trained_run
    assert save_curves([run, run], tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(CnnlabError, match="no metrics"):
        save_curves([tmp_path / "empty"], tmp_path / "d.png")


def test_viz_verbs_on_a_trained_run(trained_run, tmp_path):
    run, root = trained_run
    image = str(next((root / "data" / "test" / "red").glob("*.png")))
    runner = CliRunner()
    commands = [
        ["viz", "filters", str(run), "--out", str(tmp_path)],
        ["viz", "filters", str(run), "--layer", "features.1.0.conv", "--out", str(tmp_path)],
        ["viz", "featuremaps", str(run), image, "--layer", "features.0", "--layer", "features.2", "--out", str(tmp_path)],
        ["viz", "gradcam", str(run), str(root / "data" / "test" / "green"), "--out", str(tmp_path)],
        ["viz", "gradcam", str(run), image, "--class", "blue", "--method", "gradcam++", "--out", str(tmp_path)],
        ["viz", "curves", str(run), "--out", str(tmp_path / "curves.png")],
    ]
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["curves.png", "featuremaps-000-features-0.png", "featuremaps-000-features-2.png",
                     "filters-features-1-0-conv.png", "filters-first-conv.png", "gradcam++.png", "gradcam.png"]
    result = runner.invoke(app, ["viz", "gradcam", str(run), image, "--class", "purple"])
    assert result.exit_code != 0 and "blue, green, red" in str(result.exception)
