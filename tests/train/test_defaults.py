"""`model` auto: photos with ImageNet weights installed are fine-tuned from them at a size that keeps epochs short,
anything else trains SimpleCNN (at most 64 px from a folder); chosen settings are kept, and the choice is said."""

import pytest

from cnnlab.settings import resolve
from cnnlab.train import defaults

from conftest import write_colour_images


@pytest.fixture
def photos(tmp_path):
    """A folder of 100 px images."""
    write_colour_images(tmp_path / "photos", per_class=4, seed=1, size=100)
    return tmp_path / "photos"


@pytest.fixture
def weights(monkeypatch):
    """Whether the ImageNet weights count as installed, as the test sets it."""
    def installed(value: bool) -> None:
        monkeypatch.setattr(defaults, "weights_installed", lambda: value)
    return installed


def test_photos_with_weights_installed_are_fine_tuned_from_imagenet(photos, weights, heard):
    weights(True)
    chosen = defaults.concrete(resolve(data=str(photos)))
    assert (chosen.model.model, chosen.model.pretrained, chosen.model.fine_tune, chosen.model.freeze) == \
        ("efficientnet_lite0", "imagenet", 1, "6")
    assert chosen.data.image_size == 100 and chosen.optim.batch_size == 32 and chosen.optim.epochs == 5
    assert "auto: `model` efficientnet_lite0" in heard.lines and "the images are 100 px" in heard.lines


def test_settings_somebody_chose_are_kept(photos, weights):
    weights(True)
    chosen = defaults.concrete(resolve(data=str(photos), epochs=3, image_size=80))
    assert chosen.model.model == "efficientnet_lite0" and chosen.optim.epochs == 3 and chosen.data.image_size == 80
    assert defaults.concrete(resolve(data=str(photos), model="resnet18")).model.model == "resnet18"
    assert defaults.concrete(resolve(data=str(photos), fine_tune=2)).model.model == "simplecnn"


def test_without_weights_photos_train_simplecnn_at_64_px(photos, weights, heard):
    weights(False)
    chosen = defaults.concrete(resolve(data=str(photos)))
    assert (chosen.model.model, chosen.model.pretrained, chosen.data.image_size) == ("simplecnn", None, 64)
    assert "no ImageNet weights are installed" in heard.lines


def test_small_images_and_named_datasets_train_simplecnn_as_they_are(tmp_path, weights, heard):
    weights(True)
    write_colour_images(tmp_path / "small", per_class=4, seed=1, size=16)
    small = defaults.concrete(resolve(data=str(tmp_path / "small")))
    assert (small.model.model, small.data.image_size) == ("simplecnn", None)
    assert "the images are 16 px: from scratch" in heard.lines
    sample = defaults.concrete(resolve())
    assert sample.model.model == "simplecnn" and sample.explicit() == {"model"}
