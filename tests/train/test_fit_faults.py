"""Faults a training run survives: a failed start leaves nothing, a run killed before its first checkpoint, during a
save or mid-epoch resumes (mid-epoch: from the next step), a full disk or a diverging loss stops it with one line
and the last checkpoint kept."""

import os
import shutil
import subprocess
import uuid

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.run.directory import RunDir
from cnnlab.train import trainer as trainer_module
from cnnlab.train.fit import fit


def settings(tiny_folder, out, **extra) -> dict:
    """A run of a few seconds on 16x16 images."""
    return {"data": str(tiny_folder), "out": str(out), "name": "run", "epochs": 2, "batch_size": 8, **extra}


def weights(run_dir) -> dict[str, torch.Tensor]:
    """The model weights of a run's last checkpoint."""
    return load_checkpoint(run_dir / "checkpoints" / "last.safetensors")[0]["model"]


def test_a_run_that_cannot_start_leaves_no_run_directory(tiny_folder, tmp_path):
    with pytest.raises(CnnlabError, match="`freeze` 9: SimpleCNN has 3 stages"):
        fit(**settings(tiny_folder, tmp_path / "runs", freeze="9"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_run_killed_before_its_first_checkpoint_trains_again_from_the_start(tiny_folder, tmp_path, monkeypatch,
                                                                               heard):
    straight = fit(**settings(tiny_folder, tmp_path, name="straight"))
    real_epoch = trainer_module.Trainer.train_epoch

    def killed(self):
        raise KeyboardInterrupt  # as kill -9 in the first epoch: nothing was saved yet

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        fit(**settings(tiny_folder, tmp_path, name="killed"))
    assert not (tmp_path / "killed" / "checkpoints" / "last.safetensors").exists()
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", real_epoch)
    resumed = fit(resume=tmp_path / "killed")
    assert "stopped before its first checkpoint: training it from the start" in heard.lines
    assert resumed.epochs == 2
    for key, value in weights(straight.run_dir).items():
        assert torch.equal(value, weights(resumed.run_dir)[key]), key


def test_what_an_interrupted_save_left_is_removed_at_the_next_start(tiny_folder, tmp_path, heard):
    first = fit(**settings(tiny_folder, tmp_path, epochs=1))
    stale = first.run_dir / "checkpoints" / ".last.safetensors.tmp4242"
    stale.write_bytes(b"\0" * 1000)  # what a kill during save_file leaves
    fit(resume=first.run_dir)
    assert not stale.exists() and "removed .last.safetensors.tmp4242" in heard.lines


def test_a_save_that_fails_keeps_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.safetensors"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}}, None, {"epoch": 1})

    def disk_full(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\0" * 10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cnnlab.run.checkpoint.save_file", disk_full)
    with pytest.raises(CnnlabError, match="could not write the checkpoint .*No space left on device.*the previous "
                                          "one is kept"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}}, None, {"epoch": 2})
    assert load_checkpoint(path)[2]["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.safetensors"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root")
def test_a_full_disk_stops_the_run_with_one_line_and_the_last_checkpoint_intact(tiny_folder, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", f"tmpfs-{uuid.uuid4().hex[:8]}", str(disk)]).returncode:
        pytest.skip("this machine does not let a tmpfs be mounted")
    try:
        # a SimpleCNN checkpoint: last 7.5 MB (weights and Adam's moments), best 2.5 MB; the second last does not fit
        with pytest.raises(CnnlabError, match="could not write the checkpoint .*No space left on device.*the previous "
                                              "one is kept"):
            fit(**settings(tiny_folder, disk, epochs=3))
        checkpoints = disk / "run" / "checkpoints"
        assert load_checkpoint(checkpoints / "last.safetensors")[2]["epoch"] == 1
        assert not [p for p in checkpoints.iterdir() if ".tmp" in p.name]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("factor, expected", [(float("nan"), "nan"), (1e4, "x the first")])
def test_a_loss_that_is_nan_or_explodes_stops_the_run_naming_what_was_kept(tiny_folder, tmp_path, monkeypatch,
                                                                           factor, expected):
    real_step = trainer_module.Trainer.train_step

    def diverging(self, route, images, labels):
        loss, hits = real_step(self, route, images, labels)
        return (loss * factor if self.step == 1 else loss), hits  # the run's second step

    monkeypatch.setattr(trainer_module.Trainer, "train_step", diverging)
    with pytest.raises(CnnlabError, match=f"loss became .*{expected}.* at epoch 1, step 2: training stopped; no "
                                          "checkpoint was written yet"):
        fit(**settings(tiny_folder, tmp_path))


def test_a_checkpoint_of_another_architecture_is_refused_on_resume(tiny_folder, tmp_path):
    first = fit(**settings(tiny_folder, tmp_path, epochs=1))
    other = fit(**settings(tiny_folder, tmp_path, epochs=1, model="simplecnn:kernel_size=5", name="other"))
    shutil.copy(other.run_dir / "checkpoints" / "last.safetensors", first.run_dir / "checkpoints" / "last.safetensors")
    with pytest.raises(CnnlabError, match="last.safetensors does not fit simplecnn .*of another shape"):
        fit(resume=first.run_dir)


@pytest.mark.parametrize("stream", [False, True], ids=["memory", "streamed"])
@pytest.mark.parametrize("killed_at", [3, 9])  # in epoch 1, and in epoch 2 (5 steps per epoch)
def test_a_run_killed_mid_epoch_resumes_at_the_next_step_as_if_never_stopped(tiny_folder, tmp_path, monkeypatch,
                                                                             heard, stream, killed_at):
    # fp32: bit-for-bit equality; streamed with two workers: each crop comes from its image's seed, not the worker's
    extra = dict(epochs=2, batch_size=5, precision="fp32", checkpoint_every=2, seed=1,
                 **({"stream": True, "workers": 2} if stream else {}))
    straight = fit(**settings(tiny_folder, tmp_path, name="straight", **extra))
    real_step = trainer_module.Trainer.train_step

    def killed(self, *args):
        if self.step == killed_at:
            raise KeyboardInterrupt  # as kill -9 after that many steps: the last checkpoint is one step older
        return real_step(self, *args)

    monkeypatch.setattr(trainer_module.Trainer, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        fit(**settings(tiny_folder, tmp_path, name="killed", **extra))
    meta = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.safetensors")[2]
    assert (meta["step"], meta["position"]) == (killed_at - 1, (killed_at - 1) % 5)  # every 2 steps
    monkeypatch.setattr(trainer_module.Trainer, "train_step", real_step)
    resumed = fit(resume=tmp_path / "killed")
    assert f"after epoch {meta['epoch']}, step {meta['position']} of epoch {meta['epoch'] + 1}" in heard.lines
    for key, value in weights(straight.run_dir).items():
        assert torch.equal(value, weights(resumed.run_dir)[key]), key
    rows = [RunDir(run).read_metrics() for run in (straight.run_dir, resumed.run_dir)]
    assert [r["epoch"] for r in rows[1]] == [1, 2]
    for one, other in zip(*rows):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert other[key] == pytest.approx(one[key], rel=1e-6), key
