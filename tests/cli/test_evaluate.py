"""`cnnlab predict` and `cnnlab evaluate` as a user runs them: JSON and CSV output, and a one-line error."""

import json
import subprocess
import sys

import pytest


def test_cli_predict_json_and_csv(trained_run):
    run, root = trained_run
    image = root / "data" / "test" / "green" / "000.png"
    out = subprocess.run([sys.executable, "-m", "cnnlab", "predict", str(run), str(image), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["predictions"][0]["top"][0]["class"] == "green"
    out = subprocess.run([sys.executable, "-m", "cnnlab", "predict", str(run), str(image), "--csv", "--top", "2"],
                         capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "file,rank,class,probability,answer" and len(lines) == 3


def test_cli_evaluate_missing_run_is_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnnlab", "evaluate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert out.returncode == 2
    assert "no such run directory" in out.stderr and "Traceback" not in out.stderr


def test_predict_names_each_file_it_cannot_read_and_exits_1_after_predicting_the_others(trained_run, tmp_path, cli):
    run, root = trained_run
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    good = root / "data" / "test" / "green" / "003.png"
    code, out, err = cli("predict", str(run), str(good), str(broken))
    assert code == 1
    assert out.startswith(f"{good}: green") and f"skipped {broken}: " in err and "1 of 2 files" in err


@pytest.mark.parametrize("top", ["0", "-1"])
def test_predict_top_must_be_at_least_one(trained_run, cli, top):
    run, root = trained_run
    code, _, err = cli("predict", str(run), str(root / "data" / "test"), "--top", top)
    assert code == 2 and err.strip() == f"error: --top must be at least 1, got {top}"


def test_evaluate_names_the_files_it_skipped(trained_run, tmp_path, cli):
    import shutil

    run, root = trained_run
    copy = tmp_path / "data"
    shutil.copytree(root / "data", copy)
    (copy / "test" / "red" / "notes.txt").write_text("no image")
    code, out, err = cli("evaluate", str(run), "--data", str(copy), "--json")
    assert code in (0, None), err
    assert "notes.txt: not an image file" in err
    assert [entry["reason"] for entry in json.loads(out)["skipped"]] == ["not an image file (by its extension)"]


def test_evaluate_and_predict_a_multi_label_run(labelled_run, cli, tmp_path):
    run, shapes, truth = labelled_run
    code, _, shown = cli("evaluate", str(run), "--out", str(tmp_path))  # the table goes to the console (stderr)
    assert code in (0, None) and "AP" in shown and "threshold" in shown and "mAP" in shown and "micro F1" in shown
    assert all(name in shown for name in ("circle", "square", "triangle")) and "tuned on this split" not in shown
    index = next(i for i in range(0, 400, 5) if len(truth[i]) == 2)  # a test image holding two of the shapes
    image = shapes / f"{index:04d}.png"
    code, out, _ = cli("predict", str(run), str(image), "--json")
    prediction = json.loads(out)["predictions"][0]
    assert code in (0, None) and {label["class"] for label in prediction["labels"]} == truth[index]
    code, out, _ = cli("predict", str(run), str(image))
    answered, _, below = out.partition("(below their thresholds:")
    assert code in (0, None) and all(name in answered for name in truth[index])
    assert all(name in below for name in {"circle", "square", "triangle"} - truth[index])
    code, _, err = cli("calibrate", str(run))
    assert code == 2 and "multi-label" in err
