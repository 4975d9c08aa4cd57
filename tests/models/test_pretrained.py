"""Pretrained weights: files of every kind load, torchvision's download (from 127.0.0.1) is hash-checked and cached,
the first conv adapts to the channels, mistakes get one-line errors."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.models import ResNet18_Weights

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.pretrained import (
    adapt_conv_weight,
    apply_pretrained,
    load_weights,
    torchvision_weights,
    weights_preprocessing,
)


def test_imagenet_is_the_default_weights_and_names_are_members():
    assert torchvision_weights("resnet50", "imagenet").name == "IMAGENET1K_V2"
    assert torchvision_weights("resnet50", "imagenet1k_v1").name == "IMAGENET1K_V1"


def test_unknown_weights_name_lists_the_known_ones():
    known = r"unknown weights 'imagenet22k' for resnet18; known: imagenet .*IMAGENET1K_V1"
    with pytest.raises(CnnlabError, match=known):
        torchvision_weights("resnet18", "imagenet22k")
    with pytest.raises(CnnlabError, match="simplecnn has no torchvision weights"):
        torchvision_weights("simplecnn", "imagenet")
    with pytest.raises(CnnlabError, match="without variants"):
        torchvision_weights("resnet18:stem=cifar", "imagenet")


def test_a_pth_file_loads_with_a_new_head_for_the_new_classes(tmp_path):
    source = create_model("simplecnn", num_classes=5)
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pth")
    model = create_model("simplecnn", num_classes=3)
    apply_pretrained(model, "simplecnn", str(tmp_path / "w.pth"))
    assert model.get_classifier().out_features == 3 and model.num_classes == 3
    assert torch.equal(model.features[0][0].conv.weight, source.features[0][0].conv.weight)
    assert torch.equal(model.hidden[1].weight, source.hidden[1].weight)


def test_a_safetensors_file_loads(tmp_path):
    source = create_model("lenet5", num_classes=10)
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    model = create_model("lenet5", num_classes=4)
    apply_pretrained(model, "lenet5", str(tmp_path / "w.safetensors"))
    assert torch.equal(model.features[0].weight, source.features[0].weight)
    assert model.get_classifier().out_features == 4


def test_weights_for_another_architecture_name_the_missing_and_unexpected_keys(tmp_path):
    torch.save(create_model("simplecnn").state_dict(), tmp_path / "simple.pth")
    model = create_model("resnet18", num_classes=10)
    with pytest.raises(CnnlabError) as err:
        apply_pretrained(model, "resnet18", str(tmp_path / "simple.pth"))
    message = str(err.value)
    assert "\n" not in message and "another architecture" in message
    assert "fit resnet18" in message and "missing (conv1.weight, bn1.weight" in message
    assert "unexpected (features.0.0.conv.weight" in message


def test_class_count_mismatch_without_a_head_swap_is_an_error():
    state = create_model("simplecnn", num_classes=5).state_dict()
    with pytest.raises(CnnlabError, match="`keep_head` needs as many classes as the weights' head: .* has 5, the data 3"):
        load_weights(create_model("simplecnn", num_classes=3), state, "w.pth", reset_head=False)


def test_keep_head_with_the_same_classes_loads_the_head_too():
    source = create_model("simplecnn", num_classes=3)
    model = create_model("simplecnn", num_classes=3)
    load_weights(model, source.state_dict(), "w.pth", reset_head=False)
    assert torch.equal(model.classifier.weight, source.classifier.weight)
    load_weights(model, source.state_dict(), "w.pth")
    assert not torch.equal(model.classifier.weight, source.classifier.weight)  # a fresh head by default


def test_rgb_weights_on_grey_images_see_a_grey_image_as_its_rgb_copy():
    weight, grey = torch.randn(8, 3, 3, 3), torch.randn(2, 1, 10, 10)
    assert torch.allclose(F.conv2d(grey, adapt_conv_weight(weight, 1)), F.conv2d(grey.expand(-1, 3, -1, -1), weight),
                          atol=1e-5)


def test_grey_weights_on_rgb_images_give_the_grey_response_to_equal_channels():
    weight, grey = torch.randn(8, 1, 3, 3), torch.randn(2, 1, 10, 10)
    adapted = adapt_conv_weight(weight, 3)
    assert adapted.shape == (8, 3, 3, 3)
    assert torch.allclose(F.conv2d(grey.expand(-1, 3, -1, -1), adapted), F.conv2d(grey, weight), atol=1e-5)


def test_a_grey_model_loads_rgb_weights_by_summing_the_first_conv(tmp_path):
    source = create_model("resnet18", num_classes=10, stem="cifar")
    torch.save(source.state_dict(), tmp_path / "rgb.pth")
    model = create_model("resnet18", num_classes=2, in_chans=1, stem="cifar")
    apply_pretrained(model, "resnet18:stem=cifar", str(tmp_path / "rgb.pth"))
    assert torch.allclose(model.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


def test_a_file_that_is_not_weights_is_a_one_line_error(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(CnnlabError, match="not a readable weights file"):
        apply_pretrained(create_model("simplecnn"), "simplecnn", str(tmp_path / "junk.pth"))
    with pytest.raises(CnnlabError, match="no such run directory or checkpoint"):
        apply_pretrained(create_model("simplecnn"), "simplecnn", str(tmp_path / "missing.pth"))


def test_timm_models_load_a_local_file_with_a_new_head(tmp_path):
    pytest.importorskip("timm")
    source = create_model("timm/resnet10t", num_classes=7)
    save_file(source.state_dict(), str(tmp_path / "timm.safetensors"))
    model = create_model("timm/resnet10t", num_classes=2)
    apply_pretrained(model, "timm/resnet10t", str(tmp_path / "timm.safetensors"))
    assert torch.equal(model.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    assert model.get_classifier().out_features == 2


def test_timm_hub_weights_offline_is_a_one_line_error_naming_the_options(monkeypatch):
    pytest.importorskip("timm")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = r"cannot load timm's weights for timm/resnet10t .*offline: a pre-filled HF_HOME"
    with pytest.raises(CnnlabError, match=offline):
        apply_pretrained(create_model("timm/resnet10t", num_classes=3), "timm/resnet10t", "timm")
    with pytest.raises(CnnlabError, match="unknown weights 'imagenet22k' for a timm model"):
        apply_pretrained(create_model("timm/resnet10t", num_classes=3), "timm/resnet10t", "imagenet22k")


def test_backbone_weights_without_a_head_load_with_a_new_head():
    source = create_model("simplecnn", num_classes=5)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("classifier.")}
    model = create_model("simplecnn", num_classes=3)
    load_weights(model, state, "backbone.pth")
    assert torch.equal(model.hidden[1].weight, source.hidden[1].weight) and model.classifier.out_features == 3
    with pytest.raises(CnnlabError, match=r"2 missing \(classifier.weight, classifier.bias\)"):
        load_weights(create_model("simplecnn", num_classes=3), state, "backbone.pth", reset_head=False)


def test_imagenet_weights_download_hash_check_cache_and_load(served, weights_file):
    model = create_model("resnet18", num_classes=4)
    apply_pretrained(model, "resnet18", "imagenet")
    expected = torch.load(weights_file, weights_only=True)
    assert torch.equal(model.conv1.weight, expected["conv1.weight"])
    assert torch.equal(model.layer3[1].bn2.running_var, expected["layer3.1.bn2.running_var"])
    assert model.fc.weight.shape == (4, 512)  # the 1000-class ImageNet head replaced
    assert (served / "hub" / "checkpoints" / weights_file.name).is_file()  # torchvision's cache under TORCH_HOME


def test_a_corrupted_download_fails_torchvisions_hash_check(served, weights_file, monkeypatch):
    bad = weights_file.with_name("resnet18-00000000.pth")
    bad.write_bytes(weights_file.read_bytes())
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url",
                        ResNet18_Weights.IMAGENET1K_V1.url.replace(weights_file.name, bad.name))
    with pytest.raises(CnnlabError, match="invalid hash value"):
        apply_pretrained(create_model("resnet18", num_classes=4), "resnet18", "imagenet")


def test_no_network_is_one_line_naming_the_offline_options(served, monkeypatch):
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", "http://127.0.0.1:9/resnet18-f37072fd.pth")
    with pytest.raises(CnnlabError) as err:
        apply_pretrained(create_model("resnet18", num_classes=4), "resnet18", "imagenet")
    message = str(err.value)
    assert "\n" not in message and message.startswith("cannot download http://127.0.0.1:9/resnet18-f37072fd.pth")
    assert f"copy resnet18-f37072fd.pth to {served / 'hub' / 'checkpoints' / 'resnet18-f37072fd.pth'}" in message
    assert "`pretrained` /path/to/resnet18-f37072fd.pth" in message


def test_weights_preprocessing_is_torchvisions():
    prep = weights_preprocessing("resnet18", "imagenet")
    assert prep.size == 224 and prep.mean == pytest.approx((0.485, 0.456, 0.406))
    assert prep.for_channels(1).mean == pytest.approx((0.449,))
