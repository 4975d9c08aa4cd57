"""Transfer learning runs: a run trained here starts another on new classes; frozen weights and stats stay exact."""

import json

import pytest
import torch

from cnnlab.data.pipeline import load_data
from cnnlab.inference.loaded import load_model
from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.run.directory import RunDir
from cnnlab.settings import resolve
from cnnlab.train.assemble import assemble
from cnnlab.train.defaults import concrete
from cnnlab.train.fit import fit
from cnnlab.train.trainer import Trainer

from conftest import two_colour_folder


def model_weights(run_dir, which="last"):
    """The `model` section of a run's last (or best) checkpoint."""
    return load_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors")[0]["model"]


def test_a_run_fine_tunes_on_another_dataset_with_frozen_stages_bit_identical(trained_run, tmp_path):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    result = fit(data=str(target), pretrained=str(source_dir), freeze="2", epochs=2, batch_size=8, lr=5e-3,
                 out=str(tmp_path / "runs"), name="transfer")
    before, after = model_weights(source_dir, "best"), model_weights(result.run_dir)  # a run starts others from best
    frozen = [k for k in before if k.startswith(("features.0.", "features.1."))]
    assert any("running_mean" in k for k in frozen) and any("running_var" in k for k in frozen)
    for key in frozen:  # weights and BatchNorm running statistics of the frozen stages
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["features.2.0.conv.weight"], after["features.2.0.conv.weight"])
    # pretrained weights: the trained stage's BatchNorm keeps its statistics (batchnorm auto), its scale learns
    assert torch.equal(before["features.2.0.bn.running_mean"], after["features.2.0.bn.running_mean"])
    assert not torch.equal(before["features.2.0.bn.weight"], after["features.2.0.bn.weight"])
    assert after["classifier.weight"].shape == (2, 256)
    loaded = load_model(result.run_dir)
    assert loaded.classes == ["cool", "warm"] and loaded.model.get_classifier().out_features == 2


def test_fine_tune_trains_the_head_first_then_everything_at_lower_backbone_rates(trained_run, tmp_path):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    config = concrete(resolve(data=str(target), pretrained=str(source_dir), fine_tune=1, epochs=3, batch_size=8,
                              out=str(tmp_path / "runs")))
    parts = assemble(config, load_data(config))
    trainer = Trainer(parts, RunDir.create(config.run.out, "phases"))
    trainable = [n for n, p in parts.model.named_parameters() if p.requires_grad]
    assert trainable == ["hidden.1.weight", "hidden.1.bias", "classifier.weight", "classifier.bias"]
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-3, 1e-3]
    optimizer, scheduler = parts.optimisation(1)
    assert all(p.requires_grad for p in parts.model.parameters())
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-3, 1e-4, 1e-4]
    assert scheduler.lr_lambdas[0](2 * parts.steps_per_epoch) == 0.0  # a cosine over the 2 later epochs


@pytest.mark.parametrize("crash_in_epoch", [2, 3])  # just after the head phase, and later in the full phase
def test_a_fine_tune_run_resumes_into_the_right_phase(trained_run, tmp_path, monkeypatch, crash_in_epoch):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    settings = dict(data=str(target), pretrained=str(source_dir), fine_tune=1, epochs=3, batch_size=8,
                    out=str(tmp_path / "runs"))
    straight = fit(**settings, name="straight")
    real_epoch, calls = Trainer.train_epoch, {"n": 0}

    def crash(self):
        calls["n"] += 1
        if calls["n"] == crash_in_epoch:
            raise KeyboardInterrupt  # as if killed mid-epoch
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", crash)
    with pytest.raises(KeyboardInterrupt):
        fit(**settings, name="cut")
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    resumed = fit(resume=tmp_path / "runs" / "cut")
    a, b = model_weights(straight.run_dir), model_weights(resumed.run_dir)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_preprocess_weights_takes_the_input_size_and_statistics_of_the_pretrained_run(trained_run, tmp_path):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    own = load_data(resolve(data=str(target)))
    borrowed = load_data(resolve(data=str(target), pretrained=str(source_dir), preprocess="weights"))
    source_record = json.loads((source_dir / "config.json").read_text())["model"]
    assert list(borrowed.mean) == source_record["mean"] and list(borrowed.std) == source_record["std"]
    assert borrowed.mean != own.mean and borrowed.input_shape == (3, 32, 32)


def test_grey_images_train_on_one_channel_from_scratch_and_three_for_rgb_weights(trained_run, tmp_path, heard):
    from conftest import write_grey_images

    source_dir, _ = trained_run
    write_grey_images(tmp_path / "grey" / "train")
    write_grey_images(tmp_path / "grey" / "test", per_class=2)
    scratch = fit(data=str(tmp_path / "grey"), epochs=1, batch_size=4, out=str(tmp_path), name="scratch")
    assert json.loads((scratch.run_dir / "config.json").read_text())["model"]["input_shape"][0] == 1
    tuned = fit(data=str(tmp_path / "grey"), pretrained=str(source_dir), epochs=1, batch_size=4, out=str(tmp_path),
                name="tuned")
    assert json.loads((tuned.run_dir / "config.json").read_text())["model"]["input_shape"][0] == 3
    assert "repeated to 3 channels, as the weights take RGB" in heard.lines
