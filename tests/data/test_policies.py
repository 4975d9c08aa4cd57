"""Augmentation policies and MixUp/CutMix: seeded, batched on the device, and wired into training honestly."""

import json

import pytest
import torch

from cnnlab.data.policies import POLICIES, Mixer, Policy, dominant_labels
from cnnlab.errors import CnnlabError
from cnnlab.settings import resolve
from cnnlab.train.fit import fit

IMAGES = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list(POLICIES))
def test_policy_is_seeded_by_the_generator_and_keeps_the_batch(name):
    policy = Policy(name, "cpu")
    assert policy.batched and "batched on cpu" in policy.describe()
    runs = [policy(IMAGES, torch.Generator().manual_seed(seed)) for seed in (1, 1, 2, 3)]
    assert all(r.dtype == torch.uint8 and r.shape == IMAGES.shape for r in runs)
    assert torch.equal(runs[0], runs[1])
    assert not all(torch.equal(runs[0], r) for r in runs[2:])  # other seeds draw other operations


def test_policy_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    Policy("randaugment", "cpu")(IMAGES, torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(3), expected)


def test_policy_falls_back_to_one_call_per_image_when_the_batch_is_refused(monkeypatch):
    policy = Policy("trivialaugment", "cpu")
    real = policy.transform

    def single_images_only(x):
        """The policy, refusing batches."""
        if x.dim() == 4:
            raise RuntimeError("no batches here")
        return real(x)

    monkeypatch.setattr(policy, "transform", single_images_only)
    assert not policy._runs_batched(3)
    policy.batched = False
    out = policy(IMAGES, torch.Generator().manual_seed(0))
    assert out.shape == IMAGES.shape and "per image" in policy.describe()


def test_unknown_policy_is_a_one_line_error():
    with pytest.raises(CnnlabError, match="randaugment"):
        Policy("autoaug", "cpu")


@pytest.mark.parametrize("alphas", [{"mixup": 0.4}, {"cutmix": 1.0}, {"mixup": 0.4, "cutmix": 1.0}])
def test_mixer_gives_soft_targets_that_sum_to_one(alphas):
    images, labels = torch.rand(16, 3, 8, 8), torch.arange(16) % 4
    mixed, targets = Mixer(4, **alphas)(images, labels, torch.Generator().manual_seed(0))
    assert mixed.shape == images.shape and targets.shape == (16, 4)
    assert torch.allclose(targets.sum(1), torch.ones(16))
    assert (targets.max(1).values < 1).any()  # some images are really mixed
    assert (dominant_labels(targets) == torch.where(targets.max(1).values >= 0.5, dominant_labels(targets), -1)).all()


def test_mixer_needs_a_positive_alpha():
    with pytest.raises(CnnlabError):
        Mixer(4)
    with pytest.raises(CnnlabError):
        Mixer(4, mixup=-1.0)
    with pytest.raises(CnnlabError, match="`cutmix` must be at least 0"):
        resolve(cutmix=-0.5)  # refused with the other settings, before any data is read


def test_training_with_a_policy_and_mixing_names_its_train_accuracy(colour_folder, tmp_path, heard):
    config = resolve(data=str(colour_folder), out=str(tmp_path), name="mixed", epochs=2, batch_size=32,
                            lr=2e-3, policy="trivialaugment", cutmix=1.0, mixup=0.2)
    result = fit(config)
    log = heard.lines
    assert "policy trivialaugment: batched on cpu" in log and "mixing: mixup or cutmix" in log
    assert "acc (dominant label)" in log
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(row["train_acc_of"] == "dominant label" for row in rows)
    assert result.final_accuracy > 0.5  # the three colours are still learned (chance is 1/3)


def test_resume_repeats_the_policy_mixing_and_balanced_draws(colour_folder, tmp_path, monkeypatch):
    from cnnlab.run.checkpoint import load_checkpoint
    from cnnlab.train import trainer as trainer_module

    settings = dict(data=str(colour_folder), out=str(tmp_path), epochs=3, batch_size=32, lr=2e-3,
                    policy="randaugment", mixup=0.4, cutmix=1.0, sampler="balanced")
    straight = fit(resolve(name="straight", **settings))
    real_epoch = trainer_module.Trainer.train_epoch
    calls = {"n": 0}

    def crash_in_third_epoch(self):
        """Train, but die at the start of the third epoch."""
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_epoch(self)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(resolve(name="crashed", **settings))
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", real_epoch)
    resumed = fit(resume=tmp_path / "crashed")
    a, _, _ = load_checkpoint(straight.run_dir / "checkpoints" / "last.safetensors")
    b, _, _ = load_checkpoint(resumed.run_dir / "checkpoints" / "last.safetensors")
    assert all(torch.equal(value, b["model"][key]) for key, value in a["model"].items())
