"""`cnnlab predict` and `cnnlab evaluate` as a user runs them: JSON and CSV output, and a one-line error."""

import json
import subprocess
import sys


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
    assert lines[0] == "file,rank,class,probability" and len(lines) == 3


def test_cli_evaluate_missing_run_is_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cnnlab", "evaluate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert out.returncode == 2
    assert "no such run directory" in out.stderr and "Traceback" not in out.stderr
