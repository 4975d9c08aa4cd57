"""Head-only epochs on cached backbone features: the same training as through the frozen backbone, computed once and
read back from disk, keyed by the images and the weights; refused or explained where the images change."""

import pytest
import torch

from cnnlab.data.pipeline import load_data
from cnnlab.errors import SettingError
from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.run.directory import RunDir
from cnnlab.settings import resolve
from cnnlab.train.assemble import assemble
from cnnlab.train.defaults import concrete
from cnnlab.train.fit import fit
from cnnlab.train.frozen_features import feature_key
from cnnlab.train.trainer import Trainer

FIXED = dict(freeze="backbone", flip=False, crop_padding=0, epochs=2, batch_size=32, precision="fp32")


def trained(folder, tmp_path, name: str, **given):
    """A short run on the colour folder: (its metric rows, its final weights)."""
    result = fit(data=str(folder), out=str(tmp_path / "runs"), name=name, **{**FIXED, **given})
    rows = RunDir(result.run_dir).read_metrics()
    return rows, load_checkpoint(result.run_dir / "checkpoints" / "last.safetensors")[0]["model"]


def test_the_head_trains_as_it_would_through_the_frozen_backbone(colour_folder, tmp_path, heard):
    cached_rows, cached = trained(colour_folder, tmp_path, "cached")
    assert "the head trains on its features" in heard.lines and "computed once" in heard.lines
    plain_rows, plain = trained(colour_folder, tmp_path, "plain", cache_features=False)
    assert "images go through it every epoch (`cache_features` off)" in heard.lines
    for a, b in zip(cached_rows, plain_rows):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["val_acc"] == b["val_acc"] and a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-4)
    for name, tensor in plain.items():
        assert torch.allclose(cached[name], tensor, atol=1e-4), name


def test_a_second_run_reads_the_features_from_disk(colour_folder, tmp_path, heard):
    trained(colour_folder, tmp_path, "first")
    heard.events.clear()
    trained(colour_folder, tmp_path, "second", lr=0.01)  # the head's rate is not part of the features
    assert "read from" in heard.lines and "computed once" not in heard.lines


def test_the_key_follows_the_images_and_the_backbone_not_the_head(colour_folder):
    settings = concrete(resolve(data=str(colour_folder), **FIXED))
    data = load_data(settings)
    model = assemble(settings, data).model
    key = feature_key(model, data, torch.float32, True)
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
        assert feature_key(model, data, torch.float32, True) == key
        next(model.features.parameters()).add_(1e-3)
    changed = feature_key(model, data, torch.float32, True)
    assert changed != key and feature_key(model, data, torch.bfloat16, True) != changed
    data.train.images[0, 0, 0, 0] ^= 1
    assert feature_key(model, data, torch.float32, True) != changed


def test_augmentation_sends_images_through_the_backbone_and_says_so(colour_folder, tmp_path, heard):
    fit(data=str(colour_folder), out=str(tmp_path / "runs"), freeze="backbone", epochs=1, max_steps=2)
    assert "augmentation changes the images every epoch (`crop_padding`, `flip`)" in heard.lines
    with pytest.raises(SettingError, match="cache_features") as refused:
        fit(data=str(colour_folder), out=str(tmp_path / "runs"), freeze="backbone", flip=False, crop_padding=0,
            rotation=10.0, cache_features=False, epochs=1)
    assert "`rotation`" in str(refused.value)
    with pytest.raises(SettingError, match="frozen"):
        fit(data=str(colour_folder), out=str(tmp_path / "runs"), cache_features=False, epochs=1)


def test_fine_tuning_goes_from_features_to_images_and_resumes_as_if_never_stopped(colour_folder, tmp_path, heard,
                                                                                 monkeypatch):
    given = dict(FIXED, freeze="none", fine_tune=1, epochs=3)
    whole_rows, whole = trained(colour_folder, tmp_path, "whole", **given)
    real_epoch = Trainer.train_epoch

    def stopped_in_the_second_epoch(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", stopped_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(data=str(colour_folder), out=str(tmp_path / "runs"), name="parted", **given)
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    fit(resume=tmp_path / "runs" / "parted")
    rows = RunDir(tmp_path / "runs" / "parted").read_metrics()
    assert [r["val_acc"] for r in rows] == [r["val_acc"] for r in whole_rows]
    resumed = load_checkpoint(tmp_path / "runs" / "parted" / "checkpoints" / "last.safetensors")[0]["model"]
    for name, tensor in whole.items():
        assert torch.allclose(resumed[name], tensor, atol=1e-5), name
