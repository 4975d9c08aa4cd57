"""The sweep behind `cnnlab compare`: run names for model variants, and resuming a sweep that was killed."""

import json
from pathlib import Path

import pytest

from cnnlab.train.sweep import run_name, run_sweep, split_models
from cnnlab.train.trainer import Trainer

SETTINGS = {"epochs": 2, "batch_size": 32, "lr": 2e-3}


def test_split_models_keeps_variants_with_their_model() -> None:
    assert split_models("simplecnn,simplecnn:pooling=strided,kernel_size=5, lenet5,resnet18:stem=cifar") == [
        "simplecnn", "simplecnn:pooling=strided,kernel_size=5", "lenet5", "resnet18:stem=cifar"]
    assert run_name("simplecnn:pooling=strided,se=true", 2) == "simplecnn-pooling-strided-se-true-seed2"


def test_a_killed_sweep_resumes_and_skips_finished_runs(colour_folder: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    save = Trainer.save

    def killed_after_first_epoch_of_lenet(self: Trainer, row: dict, improved: bool) -> None:
        save(self, row, improved)
        if self.run.path.name.startswith("lenet5") and self.epoch == 1:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Trainer, "save", killed_after_first_epoch_of_lenet)
    args = dict(models=["simplecnn", "lenet5"], seeds=1, out=str(tmp_path), name="sweep", data=str(colour_folder))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(**args, **SETTINGS)
    runs = tmp_path / "sweep" / "runs"
    finished = runs / "simplecnn-seed0" / "result.json"
    assert finished.exists() and not (runs / "lenet5-seed0" / "result.json").exists()
    finished_at = finished.stat().st_mtime_ns
    monkeypatch.setattr(Trainer, "save", save)

    _, files = run_sweep(**args, **SETTINGS)
    assert finished.stat().st_mtime_ns == finished_at
    epochs = [json.loads(line)["epoch"] for line in (runs / "lenet5-seed0" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    assert [row["model"] for row in json.loads(files["json"].read_text())["table"]] == ["simplecnn", "lenet5"]
