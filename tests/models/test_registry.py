"""The registry: specs and keywords, variant checking, error messages, listing, and each model's default_cfg."""

import subprocess
import sys

import pytest
import torch
import torchvision

import cnnlab
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, list_models, model_info, register_model


def meta_model(spec: str, **kwargs) -> torch.nn.Module:
    """Build a model on the meta device: its structure without memory or init cost."""
    with torch.device("meta"):
        return create_model(spec, **kwargs)


def test_spec_string_and_keywords_build_the_same_variant():
    from_spec = meta_model("simplecnn:pooling=strided,kernel_size=5,se=true")
    from_keywords = meta_model("simplecnn", pooling="strided", kernel_size=5, se=True)
    assert from_spec.default_cfg == from_keywords.default_cfg
    assert from_spec.default_cfg["variant"] == {"pooling": "strided", "kernel_size": 5, "se": True}
    assert [(k, p.shape) for k, p in from_spec.named_parameters()] == [
        (k, p.shape) for k, p in from_keywords.named_parameters()
    ]


def test_keywords_override_the_spec_string():
    model = meta_model("simplecnn:kernel_size=5,se=true", kernel_size=1)
    assert model.default_cfg["variant"] == {"pooling": "max", "kernel_size": 1, "se": True}


def test_num_classes_and_in_chans_from_spec_or_arguments():
    model = meta_model("simplecnn:num_classes=4,in_chans=1")
    assert model.num_classes == 4 and model.features[0][0].conv.in_channels == 1
    model = meta_model("simplecnn:num_classes=4,in_chans=1", num_classes=6, in_chans=2)
    assert model.num_classes == 6 and model.features[0][0].conv.in_channels == 2


def test_defaults_are_the_models_own():
    assert meta_model("simplecnn").num_classes == 10
    assert meta_model("lenet5").default_cfg["in_chans"] == 1
    assert meta_model("resnet18").num_classes == 1000


def test_unknown_name_suggests_close_ones():
    with pytest.raises(CnnlabError, match="unknown model 'resnt18'; did you mean resnet18") as err:
        create_model("resnt18")
    assert "\n" not in str(err.value)
    with pytest.raises(CnnlabError, match="unknown model 'qqqq' \\(") as err:
        create_model("qqqq")


def test_unknown_variant_key_lists_the_allowed_ones():
    with pytest.raises(CnnlabError, match="simplecnn has no variant 'depth'; allowed: pooling, kernel_size, se"):
        create_model("simplecnn:depth=3")
    with pytest.raises(CnnlabError, match="vgg16 has no variant 'se'; allowed: num_classes, in_chans"):
        create_model("vgg16", se=True)


@pytest.mark.parametrize(
    "spec, allowed",
    [
        ("simplecnn:kernel_size=7", "3, 1, 5"),
        ("simplecnn:pooling=avg", "max, strided"),
        ("simplecnn:se=yes", "false, true"),
        ("simplecnn:se=1", "false, true"),
        ("simplecnn:kernel_size=3.0", "3, 1, 5"),
        ("resnet18:stem=tiny", "imagenet, cifar"),
    ],
)
def test_bad_variant_values_say_what_is_allowed(spec, allowed):
    with pytest.raises(CnnlabError, match=f"bad value .* variant .*; allowed: {allowed}"):
        create_model(spec)


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"num_classes": 2.5}, {"num_classes": True}, {"in_chans": -1}])
def test_counts_must_be_positive_integers(kwargs):
    with pytest.raises(CnnlabError, match="must be a positive integer"):
        create_model("simplecnn", **kwargs)


def test_list_models_orders_the_course_first_then_by_year():
    infos = list_models()
    assert [info.name for info in infos[:2]] == ["simplecnn", "convnet"]  # the course's own: no year
    years = [info.year for info in infos[2:]]
    assert years == sorted(years)
    assert {"simplecnn", "lenet5", "vgg16", "vgg19_bn", "resnet18", "resnet152"} <= {i.name for i in infos}


def test_list_models_filters_by_family():
    names = [info.name for info in list_models("resnet")]
    assert names == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    with pytest.raises(CnnlabError, match="unknown model family 'resnets'; known: cifar-plain, cifar-resnet, convnet, efficientnet-lite, fast, lenet, resnet, simplecnn, vgg"):
        list_models("resnets")


def test_as_dict_describes_the_default_configuration():
    entry = model_info("resnet18").as_dict()
    assert entry["params"] == 11_689_512 and entry["default_input"] == [3, 224, 224]
    assert entry["torchvision_weights"] == "ResNet18_Weights" and entry["year"] == 2015
    assert entry["variants"]["stem"] == ["imagenet", "cifar"] and entry["defaults"]["stem"] == "imagenet"


def test_default_cfg_rebuilds_the_model():
    model = meta_model("resnet18:stem=cifar,se=true", num_classes=10, in_chans=1)
    cfg = model.default_cfg
    assert cfg["spec"] == "resnet18:stem=cifar,se=true" and cfg["input_size"] == (1, 32, 32)
    again = meta_model(cfg["spec"], num_classes=model.num_classes, in_chans=cfg["in_chans"])
    assert [(k, p.shape) for k, p in again.named_parameters()] == [(k, p.shape) for k, p in model.named_parameters()]


def test_torchvision_weights_only_for_the_plain_architecture():
    assert model_info("resnet50").weights is torchvision.models.ResNet50_Weights
    assert model_info("vgg16_bn").weights is torchvision.models.VGG16_BN_Weights
    assert model_info("simplecnn").weights is None
    assert meta_model("resnet18", num_classes=10).default_cfg["torchvision_weights"] == "ResNet18_Weights"
    assert meta_model("resnet18:stem=cifar").default_cfg["torchvision_weights"] is None
    assert meta_model("resnet18", in_chans=1).default_cfg["torchvision_weights"] is None


@pytest.mark.parametrize("info", list_models(), ids=lambda info: info.name)
def test_builder_defaults_agree_with_the_registry(info):
    with torch.device("meta"):
        direct = info.builder()
    registered = meta_model(info.name)
    assert [(k, p.shape) for k, p in direct.named_parameters()] == [
        (k, p.shape) for k, p in registered.named_parameters()
    ]
    assert [type(m) for m in direct.modules()] == [type(m) for m in registered.modules()]
    assert direct.num_classes == info.num_classes


def test_registering_a_name_twice_is_refused():
    def simplecnn(num_classes: int = 10, in_chans: int = 3) -> torch.nn.Module:
        """A clash with the real simplecnn."""
        return torch.nn.Identity()

    before = model_info("simplecnn")
    with pytest.raises(ValueError, match="registered twice"):
        register_model(family="x", paper="x", year=None)(simplecnn)
    assert model_info("simplecnn") is before


def test_package_exports_without_importing_torch_up_front():
    assert cnnlab.create_model is create_model and cnnlab.list_models is list_models
    code = "import sys, cnnlab; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
