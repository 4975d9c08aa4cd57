"""convnet: a plain CNN from a spec string, registered like every model; the exercise-1 recipe obeys the rules."""

import pytest
import torch
from torch import nn

from cnnlab.analysis import summarize_model
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, model_info
from cnnlab.settings import recipe


def conv_blocks(model: nn.Module) -> list[nn.Module]:
    """The blocks of `features` that hold a convolution."""
    return [block for block in model.features if any(isinstance(m, nn.Conv2d) for m in block.modules())]


def test_spec_builds_the_blocks_it_names():
    model = create_model("convnet:widths=64-128-256,convs=2,dropout=0.2,head=gap")
    blocks = conv_blocks(model)
    assert [sum(isinstance(m, nn.Conv2d) for m in b.modules()) for b in blocks] == [2, 2, 2]
    assert [b[0].conv.out_channels for b in blocks] == [64, 128, 256]
    assert all(isinstance(b[-2], nn.MaxPool2d) and isinstance(b[-1], nn.Dropout) and b[-1].p == 0.2 for b in blocks)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert model.default_cfg["spec"] == "convnet:widths=64-128-256"  # the other values are the defaults


def test_per_block_convs_fc_head_and_average_pooling():
    model = create_model("convnet:widths=16-32-32-64,convs=1-1-2-3,head=fc,pool=avg,dropout=0", num_classes=7)
    blocks = conv_blocks(model)
    assert [sum(isinstance(m, nn.Conv2d) for m in b.modules()) for b in blocks] == [1, 1, 2, 3]
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
    assert any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert model.hidden[1].in_features == 64 * 4 * 4 and model(torch.zeros(1, 3, 32, 32)).shape == (1, 7)


def test_it_has_the_zoo_interface():
    model = create_model("convnet:widths=8-16-32", in_chans=1)
    features = model.forward_features(torch.zeros(2, 1, 32, 32))
    assert features.shape == (2, 32, 4, 4)
    assert model.forward_head(features, pre_logits=True).shape == (2, 32)
    assert isinstance(model.get_submodule(model.cam_layer)[0], nn.Conv2d)
    assert model.get_submodule(model.cam_layer)[0].out_channels == 32  # the last conv of the last block
    model.reset_classifier(3)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("convnet:widths=64-x", "positive integers"),
        ("convnet:widths=0-8", "positive integers"),
        ("convnet:convs=1-2", "2 numbers for 3 blocks"),
        ("convnet:dropout=1", "probability"),
        ("convnet:head=mlp", "allowed: gap, fc"),
        ("convnet:depth=3", "no variant 'depth'"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(CnnlabError, match=message):
        create_model(spec)


def test_summary_works_on_a_spec():
    summary = summarize_model("convnet:widths=32-64-128,convs=2")
    convs = [row for row in summary.layers if row.type == "Conv2d"]
    assert len(convs) == 6 and convs[-1].output_shape == (128, 8, 8)
    assert summary.totals.params == sum(p.numel() for p in create_model("convnet").parameters())
    assert model_info("convnet").as_dict()["open_variants"] == ["convs", "dropout", "widths"]


def test_exercise1_recipe_obeys_the_rules():
    settings = recipe("exercise1")
    assert settings.optim.epochs >= 30
    model = create_model(settings.model.model)
    assert len(conv_blocks(model)) >= 3
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules())
