"""`cnnlab compare`: a sweep over models and seeds with its table, CSV, JSON and plot, and a folder holding another plan."""

import csv
import json
from pathlib import Path

import pytest

from conftest import Cli


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


def test_a_sweep_folder_refuses_another_plan(colour_folder: Path, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.json").write_text(json.dumps({"models": ["lenet5"], "seeds": [0], "settings": {}}))
    code, _, err = cli("compare", "--models", "simplecnn", "--seeds", "1", "--epochs", "1", "--data",
                       str(colour_folder), "--out", str(tmp_path), "--name", "sweep")
    assert code == 2 and "choose another" in err
    code, _, err = cli("compare", "--models", "simplecnn", "--model", "lenet5")
    assert code == 2 and "--models" in err
