"""One unit explained with the model's own numbers: the course's worked example, BatchNorm, ReLU, pooling, a
ResNet's residual sum; every step's arithmetic lands on PyTorch's value."""

import pytest
import torch
from torch import nn

from cnnlab.analysis.explainer import Explainer, random_model
from cnnlab.analysis.summary import summarize
from cnnlab.analysis.trace import trace
from cnnlab.analysis.unit import explain_unit, field_box
from cnnlab.errors import CnnlabError

COURSE_INPUT = [[1, 2, 3, 0, 1], [0, 1, 2, 1, 0], [1, 0, 1, 2, 1], [2, 1, 0, 1, 2], [0, 2, 1, 0, 1]]
COURSE_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]


def explained(model: nn.Module, image: torch.Tensor, index: int, channel: int, row: int, col: int) -> dict:
    """A unit explained, with the layer's reach from `summarize` as the explainer takes it."""
    rows = summarize(model, tuple(image.shape[1:])).layers
    return explain_unit(trace(model, image), rows[index].reach, index, channel, row, col)


def test_the_course_example_with_a_bias():
    conv = nn.Conv2d(1, 1, 3, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(COURSE_KERNEL, dtype=torch.float32)[None, None])
        conv.bias.fill_(0.5)
    unit = explained(conv, torch.tensor(COURSE_INPUT, dtype=torch.float32)[None, None], 0, 0, 0, 0)
    (step,) = unit["steps"]
    assert step["channels"][0]["patch"] == [[1, 2, 3], [0, 1, 2], [1, 0, 1]]
    assert step["channels"][0]["kernel"] == COURSE_KERNEL
    assert step["sum"] == 7 and step["bias"] == 0.5 and step["computed"] == 7.5 and unit["value"] == 7.5
    assert unit["field"]["box"] == {"top": 0, "left": 0, "bottom": 3, "right": 3}


def test_conv_bn_relu_steps_each_land_on_pytorchs_value():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True)).eval()
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2)
    image = torch.randn(1, 3, 9, 9)
    for index in range(3):  # the conv, its BatchNorm or its ReLU clicked: the same chain of three steps
        unit = explained(model, image, index, 5, 2, 3)
        assert [step["kind"] for step in unit["steps"]] == ["conv", "batchnorm", "activation"]
    for step in unit["steps"]:
        assert step["computed"] == pytest.approx(step["value"], abs=1e-5)
    conv, bn, relu = unit["steps"]
    assert len(conv["channels"]) == 3 and bn["input"] == pytest.approx(conv["value"])
    assert relu["computed"] == max(0.0, bn["value"])
    with torch.no_grad():
        direct = model[0](image)[0, 5, 2, 3]
    assert conv["value"] == pytest.approx(float(direct), abs=1e-6)


def test_a_padded_max_pool_and_an_adaptive_average_pool():
    image = torch.randn(1, 2, 7, 7)
    unit = explained(nn.MaxPool2d(3, stride=2, padding=1), image, 0, 1, 0, 2)
    window = unit["steps"][0]["window"]
    assert window[0] == [float("-inf")] * 3  # the padded row never wins
    assert unit["steps"][0]["computed"] == unit["value"] == float(image[0, 1, 0:2, 3:6].max())
    unit = explained(nn.AdaptiveAvgPool2d(3), image, 0, 0, 1, 2)  # 7 -> 3: rows 2..4, columns 4..6
    assert unit["steps"][0]["computed"] == pytest.approx(float(image[0, 0, 2:5, 4:7].mean()), abs=1e-6)
    assert unit["value"] == pytest.approx(unit["steps"][0]["computed"], abs=1e-6)


def test_a_field_box_is_clipped_to_the_image_and_a_global_one_is_the_whole_image():
    rows = summarize(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, stride=2)), (1, 9, 9)).layers
    box = field_box(rows[1].reach, 0, 3, 9, 9)  # 5x5 field, stride 2: columns 5..9 unclipped, 9 is padding
    assert box["size"] == [5, 5] and box["unclipped"]["right"] == 10 and box["box"]["right"] == 9
    assert field_box("global", 0, 0, 9, 9)["box"] == {"top": 0, "left": 0, "bottom": 9, "right": 9}


def test_a_unit_outside_its_layer_is_refused():
    with pytest.raises(CnnlabError, match="outside layer 0"):
        explained(nn.Conv2d(1, 2, 3), torch.randn(1, 1, 5, 5), 0, 2, 0, 0)


@pytest.mark.parametrize("name", ["layer2.0.downsample.0", "layer3.1.conv2", "maxpool"])
def test_resnet18_at_224_every_step_agrees(name, resnet18_traced):
    explainer, traced = resnet18_traced
    index = next(run.index for run in traced.runs if run.name == name)
    unit, gradient = explainer.unit(traced, index, 3, 5, 6)
    for step in unit["steps"]:
        assert step.get("computed", step["value"]) == pytest.approx(step["value"], abs=1e-4)
    box, extent = unit["field"]["box"], unit["effective"]["box"]
    if extent is not None:  # the pixels that move the unit lie inside its theoretical field
        assert box["top"] <= extent["top"] and extent["bottom"] <= box["bottom"]
        assert box["left"] <= extent["left"] and extent["right"] <= box["right"]
    assert gradient.shape == (224, 224)


def test_resnet18_a_blocks_last_relu_adds_the_path_and_the_shortcut(resnet18_traced):
    explainer, traced = resnet18_traced
    for block, shortcut in (("layer1.1", "layer1.1 input (identity shortcut)"), ("layer2.0", "layer2.0.downsample.1")):
        index = [run.index for run in traced.runs if run.name == f"{block}.relu"][-1]
        unit, _ = explainer.unit(traced, index, 7, 3, 4)
        added, relu = unit["steps"]
        assert added["kind"] == "sum" and [term["from"] for term in added["terms"]] == [f"{block}.se", shortcut]
        assert sum(term["value"] for term in added["terms"]) == pytest.approx(added["value"], abs=1e-5)
        assert relu["computed"] == pytest.approx(relu["value"]) == pytest.approx(max(0.0, added["value"]))


@pytest.fixture(scope="module")
def resnet18_traced():
    """A random-weight ResNet-18's explainer and its trace of one 224x224 image."""
    explainer = Explainer(random_model("resnet18"))
    image = torch.randint(0, 256, (3, 224, 224), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return explainer, explainer.trace(image)


def test_other_activations_are_worked_out_too():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.SiLU()).eval()
    unit = explained(model, torch.randn(1, 1, 5, 5), 1, 1, 2, 0)
    assert [step["kind"] for step in unit["steps"]] == ["conv", "activation"]
    silu = unit["steps"][1]
    assert silu["function"] == "silu" and silu["computed"] == pytest.approx(silu["value"], abs=1e-6)
