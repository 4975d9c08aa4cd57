"""Every layer's run kept for one image: copies taken before in-place layers write over them, producers, blocks."""

import torch
from torch import nn

from cnnlab.analysis.trace import INPUT, residual_blocks, trace
from cnnlab.models import create_model


def conv_bn_relu_pool() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    model[1].running_mean.normal_()
    return model.eval()


def test_each_run_keeps_what_it_took_and_gave_even_under_an_inplace_relu():
    model = conv_bn_relu_pool()
    traced = trace(model, torch.randn(1, 2, 6, 6))
    assert [run.type for run in traced.runs] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [run.producer for run in traced.runs] == [INPUT, 0, 1, 2]
    bn, relu = traced.runs[1], traced.runs[2]
    assert bn.output.min() < 0  # the BatchNorm's own output, not the ReLU's that overwrote it
    assert torch.equal(relu.input, bn.output) and torch.equal(relu.output, bn.output.clamp_min(0))
    assert torch.equal(traced.logits, traced.runs[3].output)
    assert all(run.spatial for run in traced.runs)


def test_resnet_blocks_name_their_shortcut_and_its_layers_belong_to_the_block():
    with torch.device("meta"):
        model = create_model("resnet18")
    blocks = residual_blocks(model)
    assert blocks["layer1.0"] == "identity" and blocks["layer2.0"] == "layer2.0.downsample"
    assert len(blocks) == 8
    traced = trace(create_model("resnet18", num_classes=3).eval(), torch.randn(1, 3, 64, 64))
    down = next(run for run in traced.runs if run.name == "layer2.0.downsample.0")
    assert down.block == "layer2.0" and down.on_shortcut and down.producer == traced.runs[down.index - 1].index
    after_add = [run for run in traced.runs if run.name == "layer2.0.relu"][-1]
    assert after_add.producer is None and not after_add.on_shortcut  # fed by the residual addition
