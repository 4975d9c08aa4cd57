"""`cnnlab compare`: a sweep over models and seeds, its table and plot, and resuming a sweep that was killed."""

import csv
import json
from pathlib import Path

import pytest

from cnnlab.train.sweep import run_name, run_sweep, split_models
from cnnlab.train.trainer import Trainer

from conftest import Cli

SETTINGS = {"epochs": 2, "batch_size": 32, "lr": 2e-3}


def test_split_models_keeps_variants_with_their_model() -> None:
    assert split_models("simplecnn,simplecnn:pooling=strided,kernel_size=5, lenet5,resnet18:stem=cifar") == [
        "simplecnn", "simplecnn:pooling=strided,kernel_size=5", "lenet5", "resnet18:stem=cifar"]
    assert run_name("simplecnn:pooling=strided,se=true", 2) == "simplecnn-pooling-strided-se-true-seed2"


def test_compare_writes_table_csv_json_and_plot(colour_folder: Path, cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("compare", "--models", "simplecnn:pooling=strided,lenet5", "--seeds", "2", "--epochs", "2",
                       "--batch-size", "32", "--lr", "0.002", "--data", str(colour_folder), "--out", str(tmp_path),
                       "--name", "sweep", "--json")
    assert code in (0, None)
    table = json.loads(out)
    assert [row["model"] for row in table] == ["simplecnn:pooling=strided", "lenet5"]
    assert [row["params"] for row in table] == [620_810 - 10 * 257 + 3 * 257, 62_006 - 10 * 85 + 3 * 85]
    runs = json.loads((tmp_path / "sweep" / "compare.json").read_text())["runs"]
    assert len(runs) == 4
    for row in table:
        accuracies = [r["final_acc"] for r in runs if r["model"] == row["model"]]
        assert row["acc_mean"] == pytest.approx(sum(accuracies) / 2)
        assert row["acc_std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5)
        assert 0.0 <= row["acc_mean"] <= 1.0 and row["train_s_mean"] > 0
    with open(tmp_path / "sweep" / "compare.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["simplecnn:pooling=strided", "lenet5"]
    assert "| `lenet5` | 61,411 |" in (tmp_path / "sweep" / "compare.md").read_text()
    assert (tmp_path / "sweep" / "compare.png").read_bytes()[:4] == b"\x89PNG"


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


def test_a_sweep_folder_refuses_another_plan(colour_folder: Path, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.json").write_text(json.dumps({"models": ["lenet5"], "seeds": [0], "settings": {}}))
    code, _, err = cli("compare", "--models", "simplecnn", "--seeds", "1", "--epochs", "1", "--data",
                       str(colour_folder), "--out", str(tmp_path), "--name", "sweep")
    assert code == 2 and "choose another" in err
    code, _, err = cli("compare", "--models", "simplecnn", "--model", "lenet5")
    assert code == 2 and "--models" in err
