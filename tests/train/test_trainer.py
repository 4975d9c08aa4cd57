"""The trainer learns, logs every epoch, checkpoints atomically, resumes exactly and stops on a NaN loss."""

import json
import math
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError, SettingError
from cnnlab.models import create_model
from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.settings import RECIPES, resolve
from cnnlab.train import trainer as trainer_module
from cnnlab.train.defaults import concrete
from cnnlab.train.fit import fit

TINY = dict(model="simplecnn", epochs=3, batch_size=32, lr=2e-3, seed=0)


def tiny_config(data, out, **extra):
    """A few-second run on the colour folder."""
    return resolve(data=str(data), out=str(out), **{**TINY, **extra})


def test_tiny_run_learns_and_writes_a_run_directory(colour_folder, tmp_path):
    result = fit(tiny_config(colour_folder, tmp_path / "runs", name="learn"))
    assert result.run_dir == tmp_path / "runs" / "learn"
    assert result.final_accuracy > 0.9  # three colours are easy; chance is 1/3
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert {"train_acc", "val_loss", "val_acc", "lr", "images_per_s", "epoch_time"} <= set(rows[0])
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["model"]["classes"] == ["blue", "green", "red"] and config["model"]["input_shape"] == [3, 32, 32]
    assert (result.run_dir / "checkpoints" / "best.safetensors").exists()
    assert any((result.run_dir / "tensorboard").iterdir())


def test_resume_after_a_crash_equals_an_uninterrupted_run(colour_folder, tmp_path, monkeypatch):
    straight = fit(tiny_config(colour_folder, tmp_path, name="straight"))
    real_epoch = trainer_module.Trainer.train_epoch
    calls = {"n": 0}

    def crash_in_third_epoch(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed mid-epoch
        return real_epoch(self)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(colour_folder, tmp_path, name="crashed"))
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", real_epoch)
    resumed = fit(resume=tmp_path / "crashed")
    a, _, meta_a = load_checkpoint(straight.run_dir / "checkpoints" / "last.safetensors")
    b, _, meta_b = load_checkpoint(resumed.run_dir / "checkpoints" / "last.safetensors")
    assert meta_a["epoch"] == meta_b["epoch"] == 3
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    rows_a = (straight.run_dir / "metrics.jsonl").read_text().splitlines()
    rows_b = (resumed.run_dir / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if "time" not in k and "per_s" not in k} for r in rows]  # noqa: E731
    assert strip(rows_a) == strip(rows_b)


def test_checkpoint_keeps_optimizer_and_schedule(colour_folder, tmp_path):
    result = fit(tiny_config(colour_folder, tmp_path, epochs=1, optimizer="sgd", nesterov=True, ema=0.9))
    sections, optimizer, meta = load_checkpoint(result.run_dir / "checkpoints" / "last.safetensors")
    assert {"model", "ema", "rng"} <= set(sections)
    assert optimizer["param_groups"][0]["nesterov"] is True
    assert all("momentum_buffer" in slot for slot in optimizer["state"].values())
    assert meta["scheduler"]["last_epoch"] == 4  # 120 images / batch 32 = 4 steps


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(colour_folder, tmp_path, monkeypatch):
    real_step = trainer_module.Trainer.train_step

    def nan_in_second_epoch(self, route, images, labels):
        loss, hits = real_step(self, route, images, labels)
        return (loss * float("nan") if self.epoch == 1 else loss), hits

    monkeypatch.setattr(trainer_module.Trainer, "train_step", nan_in_second_epoch)
    with pytest.raises(CnnlabError, match="loss became nan at epoch 2"):
        fit(tiny_config(colour_folder, tmp_path, name="nan"))
    _, _, meta = load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.safetensors")
    assert meta["epoch"] == 1


@pytest.mark.parametrize("bad_step", [2, 4])  # 4: the epoch's last step, checked after the loop
def test_nan_loss_names_its_step_though_it_is_checked_a_step_late(colour_folder, tmp_path, monkeypatch, bad_step):
    real_step = trainer_module.Trainer.train_step
    steps = {"n": 0}

    def nan_at_bad_step(self, route, images, labels):
        loss, hits = real_step(self, route, images, labels)
        steps["n"] += 1
        return (loss * float("nan") if steps["n"] == bad_step else loss), hits

    monkeypatch.setattr(trainer_module.Trainer, "train_step", nan_at_bad_step)
    with pytest.raises(CnnlabError, match=f"loss became nan at epoch 1, step {bad_step}:"):
        fit(tiny_config(colour_folder, tmp_path, name="nan"))  # 120 images / batch 32 = 4 steps an epoch


def test_early_stopping_ends_the_run(colour_folder, tmp_path):
    result = fit(tiny_config(colour_folder, tmp_path, epochs=20, patience=1, lr=1e-9))
    assert result.epochs < 20


def test_bad_settings_say_what_is_allowed():
    with pytest.raises(CnnlabError, match="sgd, adam, adamw"):
        resolve(optimizer="rmsprop")
    with pytest.raises(CnnlabError, match="lesson"):
        resolve(recipe="nope")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_described_and_builds_its_model(name):
    config = concrete(resolve(recipe=name))  # the default recipe's `model` auto: SimpleCNN on the sample
    assert RECIPES[name].description
    model = create_model(config.model.model, num_classes=10)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_lesson_recipe_is_the_course_recipe():
    flat = resolve(recipe="lesson", epochs=30).flat()
    assert (flat["model"], flat["optimizer"], flat["lr"], flat["weight_decay"]) == ("simplecnn", "adam", 1e-3, 1e-4)
    assert (flat["schedule"], flat["batch_size"], flat["epochs"], flat["crop_padding"], flat["flip"]) == (
        "cosine", 128, 30, 4, True,
    )


def fit_seeing_batches(config) -> tuple[Path, list[torch.Tensor]]:
    """Train, keeping a copy of every batch the training steps receive; (run directory, batches)."""
    seen = []
    original = trainer_module.Trainer.train_step
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer_module.Trainer, "train_step",
                      lambda self, route, images, labels: seen.append(images.clone()) or
                      original(self, route, images, labels))
        return fit(config).run_dir, seen


def test_progressive_resizing_trains_the_first_epochs_small(colour_folder, tmp_path):
    config = tiny_config(colour_folder, tmp_path, model="fast:widths=8-16-16", progressive_size=16, progressive_epochs=2)
    run_dir, seen = fit_seeing_batches(config)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row.get("image_size") for row in rows] == [16, 16, None]
    per_epoch = len(seen) // 3
    assert [batch.shape[-1] for batch in seen] == [16] * 2 * per_epoch + [32] * per_epoch


@pytest.mark.parametrize("pad_mode, flat_border", [("zeros", True), ("reflect", False)])
def test_pad_mode_decides_what_fills_the_crop_border(colour_folder, tmp_path, pad_mode, flat_border):
    config = tiny_config(colour_folder, tmp_path, epochs=1, crop_padding=8, flip=False, pad_mode=pad_mode)
    images = torch.cat(fit_seeing_batches(config)[1])
    flat_rows = (images.amax(dim=3) == images.amin(dim=3)).all(dim=1)  # one value across a row, in every channel
    assert bool(flat_rows.any()) is flat_border  # the colour images are noisy: only padding makes a flat row


def test_bad_pad_mode_says_what_is_allowed():
    with pytest.raises(CnnlabError, match="`pad_mode` 'wrap' is not one of: zeros, reflect"):
        resolve(pad_mode="wrap")


@pytest.mark.parametrize("settings", [dict(progressive_epochs=2), dict(progressive_size=16),
                                      dict(progressive_size=16, progressive_epochs=3)])
def test_progressive_settings_are_checked(settings):
    with pytest.raises(CnnlabError, match="go together"):
        resolve(data="sample", epochs=3, **settings)


def test_a_data_initialised_model_gets_its_whitening_from_the_training_images(colour_folder, tmp_path):
    result = fit(tiny_config(colour_folder, tmp_path / "runs", model="fast:widths=8-16-16", epochs=1, name="fast"))
    sections, _, _ = load_checkpoint(result.run_dir / "checkpoints" / "last.safetensors")
    weight = sections["model"]["features.0.weight"]
    assert torch.equal(weight[12:], -weight[:12])  # init_from_data's (+, -) pairs, not a random init
    torch.manual_seed(0)
    fresh = create_model("fast:widths=8-16-16", num_classes=3)
    assert not torch.allclose(weight, fresh.whiten.weight)


def test_max_steps_ends_the_run_mid_epoch_and_the_schedule_spans_it(colour_folder, tmp_path):
    run_dir, seen = fit_seeing_batches(tiny_config(colour_folder, tmp_path, epochs=3, max_steps=6, name="short"))
    assert len(seen) == 6  # 4 steps an epoch: the second epoch stops after its second step
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    _, _, meta = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert meta["step"] == 6 and meta["scheduler"]["last_epoch"] == 6
    assert rows[1]["lr"] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 4 / 6)))  # cosine over 6 steps


def test_a_multi_label_run_learns_which_shapes_each_image_holds(labelled_run):
    run, _, _ = labelled_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # each label is on about half the images: ranking them by chance gives an average precision near 0.5
    assert rows[-1]["val_map"] > 0.9 and rows[-1]["val_f1"] > 0.85
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    _, _, meta = load_checkpoint(run / "checkpoints" / "best.safetensors")
    record = meta["model"]
    assert record["multi_label"] is True and record["classes"] == ["circle", "square", "triangle"]
    assert len(record["thresholds"]) == 3 and all(0 < t < 1 for t in record["thresholds"])
    assert meta["metrics"]["val_map"] == max(row["val_map"] for row in rows)  # best: selected by mAP


def test_multi_label_data_refuses_the_mixing_and_sampling_of_one_class_per_image(labelled_run, tmp_path):
    _, shapes, _ = labelled_run
    common = dict(data=str(shapes), labels=str(shapes / "labels.csv"), label_separator="|", out=str(tmp_path),
                  **TINY)
    for extra, name in (({"mixup": 0.2}, "mixup"), ({"cutmix": 1.0}, "cutmix"), ({"sampler": "balanced"}, "sampler")):
        with pytest.raises(SettingError, match=f"`{name}` "):
            fit(**common, **extra)
    assert not any(tmp_path.iterdir())  # refused before a run directory was made
