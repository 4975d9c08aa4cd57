"""Cross-validation (`train --folds K`): one run per fold, each validating on a different fold, a mean ± std table,
and an interrupted cross-validation resumed by running it again."""

import json
import statistics

import pytest
import torch

from cnnlab.inference.loaded import load_model
from cnnlab.train.cross_validation import cross_validate
from cnnlab.train.trainer import Trainer


def test_folds_interrupted_and_resumed_give_one_run_per_fold_and_the_table(colour_folder, tmp_path, monkeypatch):
    save = Trainer.save

    def killed_in_fold_2(self: Trainer, row: dict, improved: bool) -> None:
        save(self, row, improved)
        if self.run.path.name == "fold2" and self.epoch == 1:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Trainer, "save", killed_in_fold_2)
    args = dict(folds=3, out=str(tmp_path), name="cv", data=str(colour_folder), epochs=2, batch_size=32, lr=3e-3)
    with pytest.raises(KeyboardInterrupt):
        cross_validate(**args)
    runs = tmp_path / "cv" / "runs"
    first = runs / "fold1" / "result.json"
    assert first.exists() and not (runs / "fold2" / "result.json").exists()
    finished_at = first.stat().st_mtime_ns
    monkeypatch.setattr(Trainer, "save", save)

    _, files = cross_validate(**args)
    assert first.stat().st_mtime_ns == finished_at  # fold 1 was not trained again
    epochs = [json.loads(line)["epoch"] for line in (runs / "fold2" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]  # fold 2 resumed after its first epoch
    result = json.loads(files["json"].read_text())
    top1 = next(row for row in result["table"] if row["metric"] == "top1")
    per_fold = [run["top1"] for run in result["runs"]]
    assert top1["folds"] == per_fold and top1["mean"] == pytest.approx(statistics.fmean(per_fold))
    assert top1["std"] == pytest.approx(statistics.stdev(per_fold))
    assert "± " in files["md"].read_text()

    datasets = [load_model(runs / f"fold{k}").dataset() for k in (1, 2, 3)]
    assert [len(d.val) for d in datasets] == [40, 40, 40] and all(len(d.test) == 30 for d in datasets)  # test untouched
    held = [{image.numpy().tobytes() for image in d.val.images} for d in datasets]
    assert not (held[0] & held[1]) and not (held[0] & held[2]) and not (held[1] & held[2])  # disjoint folds
    assert held[0] | held[1] | held[2] == {image.numpy().tobytes() for image in
                                           torch.cat([datasets[0].train.images, datasets[0].val.images])}
