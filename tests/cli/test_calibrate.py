"""`cnnlab calibrate`, `evaluate`'s calibration and coverage, and `predict --min-confidence` as a user runs them."""

import json

import pytest

from cnnlab.train.fit import fit


@pytest.fixture(scope="module")
def run_with_validation(tmp_path_factory):
    """A run of the trained colours kind that kept validation images apart from its test split."""
    from conftest import write_colour_images

    root = tmp_path_factory.mktemp("cli-calibrate")
    write_colour_images(root / "data" / "train", per_class=20, seed=1, size=16)
    write_colour_images(root / "data" / "test", per_class=5, seed=2, size=16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        yield fit(data=str(root / "data"), holdout=0.2, epochs=2, batch_size=16, lr=3e-3,
                  out=str(root / "runs"), name="v").run_dir, root


def test_calibrate_prints_ece_before_and_after_and_evaluate_uses_the_temperature(run_with_validation, cli):
    run, _ = run_with_validation
    code, _, err = cli("calibrate", str(run))  # the table goes where Rich draws: stderr
    assert code == 0 and "ECE" in err and "fitted on the validation split" in err and "test" in err
    temperature = json.loads((run / "calibration.json").read_text())["temperature"]
    code, out, _ = cli("evaluate", str(run), "--json")
    result = json.loads(out)
    assert code == 0 and result["split"] == "test" and result["temperature"] == temperature
    assert 0 <= result["ece"] <= 1 and result["nll"] > 0 and 0 <= result["brier"] <= 2
    assert sum(result["reliability"]["counts"]) == result["images"] == 15
    assert result["coverage"][0] == {"min_confidence": 0.0, "coverage": 1.0, "accuracy": result["top1"],
                                     "answered": 15}
    assert (run / "eval" / "reliability.png").stat().st_size > 0 and (run / "eval" / "coverage.png").is_file()
    code, out, _ = cli("evaluate", str(run), "--split", "val", "--json")
    assert code == 0 and json.loads(out)["images"] == 12


def test_predict_answers_unsure_below_the_minimum_confidence(run_with_validation, cli):
    run, root = run_with_validation
    folder = root / "data" / "test"
    code, out, _ = cli("predict", str(run), str(folder), "--json", "--min-confidence", "0")
    sure = json.loads(out)["predictions"]
    confidences = sorted(p["top"][0]["probability"] for p in sure)
    threshold = confidences[len(confidences) // 2]  # the median: about half the images fall below it
    code, out, _ = cli("predict", str(run), str(folder), "--json", "--min-confidence", str(threshold))
    answers = json.loads(out)["predictions"]
    unsure = [p for p in answers if p["answer"] == "unsure"]
    assert code == 0 and len(unsure) == sum(c < threshold for c in confidences)
    assert all(p["answer"] == p["top"][0]["class"] for p in answers if p["answer"] != "unsure")
    assert all(p["top"] for p in unsure)  # the top classes come with an unsure answer
    code, _, err = cli("predict", str(run), str(folder), "--min-confidence", "1.5")
    assert code == 2 and "--min-confidence" in err


def test_calibrate_refuses_a_run_without_validation_images(trained_run, cli):
    code, _, err = cli("calibrate", str(trained_run[0]))
    assert code == 2 and "--holdout" in err
