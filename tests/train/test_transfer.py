"""Transfer learning runs: a run trained here starts another on new classes; frozen weights and stats stay exact."""

import json

import pytest
import torch

from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.inference.loaded import load_model
from cnnlab.run.directory import RunDir
from cnnlab.data.pipeline import load_data
from cnnlab.settings import resolve
from cnnlab.train.assemble import assemble
from cnnlab.train.fit import fit
from cnnlab.train.trainer import Trainer

from conftest import write_colour_images


def two_colour_folder(root):
    """Another dataset: two of the colours under new class names, fewer images."""
    write_colour_images(root / "train", per_class=12, seed=5)
    write_colour_images(root / "test", per_class=4, seed=6)
    for split in ("train", "test"):
        (root / split / "red").rename(root / split / "warm")
        (root / split / "blue").rename(root / split / "cool")
        for file in (root / split / "green").iterdir():
            file.unlink()
        (root / split / "green").rmdir()
    return root


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
    assert not torch.equal(before["features.2.0.bn.running_mean"], after["features.2.0.bn.running_mean"])
    assert after["classifier.weight"].shape == (2, 256)
    loaded = load_model(result.run_dir)
    assert loaded.classes == ["cool", "warm"] and loaded.model.get_classifier().out_features == 2


def test_fine_tune_trains_the_head_first_then_everything_at_lower_backbone_rates(trained_run, tmp_path):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    config = resolve(data=str(target), pretrained=str(source_dir), fine_tune=1, epochs=3, batch_size=8,
                            out=str(tmp_path / "runs"))
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


def test_summary_of_a_run_shows_what_is_frozen(trained_run, tmp_path, cli):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    result = fit(data=str(target), pretrained=str(source_dir), freeze="backbone", epochs=1, batch_size=8,
                 out=str(tmp_path / "runs"), name="frozen")
    code, out, _ = cli("summary", str(result.run_dir), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["totals"]["trainable_params"] == 2048 * 256 + 256 + 256 * 2 + 2
    assert [row["trainable"] for row in summary["stages"]] == [0, 0, 0, 2048 * 256 + 256 + 256 * 2 + 2]
    assert next(r for r in summary["layers"] if r["name"] == "features.2.0.conv")["trainable"] == 0
    code, out, _ = cli("summary", str(result.run_dir))
    assert code == 0 and "frozen" in out and "Stages" in out


def test_preprocess_weights_takes_the_input_size_and_statistics_of_the_pretrained_run(trained_run, tmp_path):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    own = load_data(resolve(data=str(target)))
    borrowed = load_data(resolve(data=str(target), pretrained=str(source_dir), preprocess="weights"))
    source_record = json.loads((source_dir / "config.json").read_text())["model"]
    assert list(borrowed.mean) == source_record["mean"] and list(borrowed.std) == source_record["std"]
    assert borrowed.mean != own.mean and borrowed.input_shape == (3, 32, 32)


def test_cli_takes_the_architecture_from_the_pretrained_run(colour_folder, tmp_path, cli):
    code, _, err = cli("train", "--data", str(colour_folder), "--model", "lenet5", "--epochs", "1", "--out",
                       str(tmp_path), "--name", "lenet")
    assert code == 0, err
    target = two_colour_folder(tmp_path / "target")
    code, _, err = cli("train", "--data", str(target), "--pretrained", str(tmp_path / "lenet"), "--fine-tune", "1",
                       "--epochs", "2", "--out", str(tmp_path), "--name", "again")
    assert code == 0, err
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["model"]["architecture"] == "lenet5" and len(config["model"]["classes"]) == 2
