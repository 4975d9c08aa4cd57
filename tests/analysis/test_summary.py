"""summarize: the course's published numbers, per-layer rows, totals and errors on any nn.Module."""

import pytest
import torch
import torchvision
from torch import nn

from cnnlab.analysis import GLOBAL, UNKNOWN, summarize, summarize_model
from cnnlab.errors import CnnlabError

VGG16_FIELDS = [3, 5, 6, 10, 14, 16, 24, 32, 40, 44, 60, 76, 92, 100, 132, 164, 196, 212]


def on_meta(builder, **kwargs) -> nn.Module:
    """Build a model on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return builder(**kwargs)


def window_fields(summary) -> list[int]:
    """Square receptive fields of the conv and pooling rows."""
    return [row.receptive_field[0] for row in summary.layers if row.type in ("Conv2d", "MaxPool2d")]


@pytest.mark.parametrize("summary", [
    summarize_model("vgg16"),
    summarize(on_meta(torchvision.models.vgg16)),
], ids=["ours", "torchvision"])
def test_vgg16_receptive_fields_match_the_course(summary):
    assert window_fields(summary) == VGG16_FIELDS
    rows = summary.layers
    for previous, row in zip(rows, rows[1:]):
        if row.type == "ReLU" and previous.type == "Conv2d":
            assert row.receptive_field == previous.receptive_field and row.stride == previous.stride
    assert [row.stride[0] for row in rows if row.type == "MaxPool2d"] == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("name, params", [
    ("resnet18", 11_689_512), ("resnet50", 25_557_032), ("resnet152", 60_192_808), ("vgg16", 138_357_544),
    ("simplecnn", 620_810), ("lenet5", 61_706),
])
def test_parameter_counts_match_the_course(name, params):
    summary = summarize_model(name)
    assert summary.totals.params == params == summary.totals.trainable_params
    assert sum(row.params for row in summary.layers) == params


def test_torchvision_resnets_have_the_published_counts():
    assert summarize(on_meta(torchvision.models.resnet18)).totals.params == 11_689_512
    assert summarize(on_meta(torchvision.models.resnet50)).totals.params == 25_557_032


def test_stacked_3x3_convs_see_2L_plus_1_pixels():
    model = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(6)])
    summary = summarize(model, (2, 32, 32))
    assert [row.receptive_field for row in summary.layers] == [(2 * n + 1,) * 2 for n in range(1, 7)]
    assert all(row.stride == (1, 1) for row in summary.layers)


def test_rows_follow_execution_order_with_qualified_names():
    summary = summarize(on_meta(torchvision.models.resnet18), (3, 64, 64))
    names = [row.name for row in summary.layers]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    block = ["layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu", "layer2.0.conv2", "layer2.0.bn2",
             "layer2.0.downsample.0", "layer2.0.downsample.1", "layer2.0.relu"]
    start = names.index("layer2.0.conv1")
    assert names[start : start + len(block)] == block
    assert names[-2:] == ["avgpool", "fc"]
    assert summary.layers[0].output_shape == (64, 32, 32)


def test_first_conv_flops_are_twice_its_multiply_accumulates():
    row = summarize(on_meta(torchvision.models.resnet18)).layers[0]
    assert row.flops == 2 * (64 * 112 * 112) * (3 * 7 * 7)


def test_residual_sum_takes_the_larger_path():
    summary = summarize(on_meta(torchvision.models.resnet18), (3, 224, 224))
    rows = {row.name: row for row in summary.layers}
    main, shortcut = rows["layer2.0.bn2"], rows["layer2.0.downsample.1"]
    assert shortcut.receptive_field[0] < main.receptive_field[0]
    after_add = [row for row in summary.layers if row.name == "layer2.0.relu"][-1]
    assert after_add.receptive_field == main.receptive_field and after_add.stride == main.stride


def test_a_module_run_twice_gives_two_rows_and_counts_its_parameters_once():
    class Twice(nn.Module):
        """The same conv applied twice."""

        def __init__(self) -> None:
            """One shared conv."""
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """Apply the conv twice."""
            return self.conv(self.conv(x))

    summary = summarize(Twice(), (4, 16, 16))
    assert [row.name for row in summary.layers] == ["conv", "conv"]
    assert [row.params for row in summary.layers] == [148, 0]
    assert summary.totals.params == 148
    assert [row.receptive_field for row in summary.layers] == [(3, 3), (5, 5)]
    assert summary.layers[0].flops == summary.layers[1].flops == 2 * 4 * 16 * 16 * 4 * 9


def test_totals_memory_for_one_image_in_float32():
    summary = summarize(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (3, 8, 8))
    assert summary.totals.activation_bytes == 2 * (4 * 6 * 6) * 4
    assert summary.totals.input_bytes == 3 * 8 * 8 * 4


def test_linear_and_global_pooling_see_the_whole_input_and_upsampling_is_unknown():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    fields = [row.receptive_field for row in summarize(model, (3, 16, 16)).layers]
    assert fields == [(3, 3), UNKNOWN, UNKNOWN, GLOBAL, GLOBAL, GLOBAL]


def test_mean_over_the_spatial_axes_is_global_but_over_channels_keeps_the_field():
    class Means(nn.Module):
        """A conv, then a channel mean (spatial) and a spatial mean (vector), each through a leaf."""

        def __init__(self) -> None:
            """A conv and two identity leaves to read the fields from."""
            super().__init__()
            self.conv, self.channel_mean, self.spatial_mean = nn.Conv2d(3, 4, 5), nn.Identity(), nn.Identity()

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Both means of the conv's output."""
            y = self.conv(x)
            return self.channel_mean(y.mean(1)), self.spatial_mean(y.mean((2, 3)))

    fields = [row.receptive_field for row in summarize(Means(), (3, 16, 16)).layers]
    assert fields == [(5, 5), (5, 5), GLOBAL]


def test_per_axis_fields_for_rectangular_kernels():
    model = nn.Sequential(nn.Conv2d(1, 1, (3, 5), stride=(1, 2)), nn.Conv2d(1, 1, 3))
    rows = summarize(model, (1, 32, 32)).layers
    assert rows[1].receptive_field == (5, 9) and rows[1].stride == (1, 2)


def test_conv1d_models_have_one_axis():
    model = nn.Sequential(nn.Conv1d(2, 4, 5, stride=2), nn.MaxPool1d(2), nn.Conv1d(4, 4, 3))
    rows = summarize(model, (2, 100)).layers
    assert [row.receptive_field for row in rows] == [(5,), (7,), (15,)]
    assert [row.stride for row in rows] == [(2,), (4,), (4,)]


def test_an_impossible_input_names_the_layer_where_it_broke():
    with pytest.raises(CnnlabError, match=r"3x8x8 does not fit vgg16: features\.23 \(MaxPool2d\)"):
        summarize_model("vgg16", (3, 8, 8))
    with pytest.raises(CnnlabError, match=r"conv1 \(Conv2d\) failed: .*[Cc]hannel"):
        summarize(on_meta(torchvision.models.resnet18), (1, 64, 64))


def test_bad_input_shapes_are_user_errors():
    with pytest.raises(CnnlabError):
        summarize(nn.Conv2d(3, 3, 1), (3, 0, 4))
    with pytest.raises(CnnlabError, match="CxHxW"):
        summarize_model("resnet18", (224, 224))


def test_summary_leaves_the_model_as_it_was():
    model = torchvision.models.resnet18()
    model.train()
    model.layer1.eval()
    with pytest.raises(CnnlabError):
        summarize(model, (2, 32, 32))
    summarize(model, (3, 32, 32))
    assert model.training and model.layer2.training and not model.layer1.training
    assert not any(module._forward_hooks or module._forward_pre_hooks for module in model.modules())


def test_meta_and_cpu_summaries_agree():
    torch.manual_seed(0)
    cpu = summarize(torchvision.models.resnet18(num_classes=10), (3, 48, 48))
    meta = summarize(on_meta(torchvision.models.resnet18, num_classes=10), (3, 48, 48))
    assert cpu == meta


def test_zoo_default_input_and_options():
    lenet = summarize_model("lenet5")
    assert lenet.input_shape == (1, 32, 32) and lenet.layers[-1].output_shape == (10,)
    wide = summarize_model("resnet18", (1, 64, 64), num_classes=7)
    assert wide.layers[0].output_shape == (64, 32, 32) and wide.layers[-1].output_shape == (7,)
    assert wide.to_dict()["input"] == [1, 64, 64]


def test_adaptive_pooling_that_replicates_a_small_map_keeps_its_field():
    rows = {row.name: row for row in summarize_model("vgg16", (3, 32, 32)).layers}
    assert rows["features.30"].output_shape == (512, 1, 1) and rows["avgpool"].output_shape == (512, 7, 7)
    assert rows["avgpool"].receptive_field == (212, 212) and rows["avgpool"].stride == (32, 32)


def test_a_model_without_spatial_axes_has_no_receptive_fields():
    summary = summarize(nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2)), (10,))
    assert [row.output_shape for row in summary.layers] == [(5,), (5,), (2,)]
    assert all(row.receptive_field is None and row.stride is None for row in summary.layers)
    assert summary.totals.flops == 2 * (10 * 5 + 5 * 2) and summary.totals.params == 55 + 12
