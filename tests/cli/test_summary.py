"""`cnnlab summary` as a user runs it: the table, --json, --input/--num-classes, --dense-equivalent, a run's
frozen stages, and one-line errors."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from cnnlab.cli.app import app
from cnnlab.errors import CnnlabError
from cnnlab.train.fit import fit

from conftest import two_colour_folder

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m cnnlab ARGS` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True)


def test_json_reports_resnet50_totals_and_layers():
    result = run_cli("summary", "resnet50", "--input", "3x224x224", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "resnet50" and data["input"] == [3, 224, 224]
    assert data["totals"]["params"] == data["totals"]["trainable_params"] == 25_557_032
    assert data["totals"]["flops"] > 0 and data["totals"]["activation_bytes"] > 0
    first, last = data["layers"][0], data["layers"][-1]
    assert first == {"name": "conv1", "type": "Conv2d", "output_shape": [64, 112, 112], "params": 9408,
                     "trainable": 9408, "flops": 2 * 64 * 112 * 112 * 3 * 7 * 7, "receptive_field": [7, 7], "stride": [2, 2]}
    assert last["output_shape"] == [1000] and last["receptive_field"] == "global" and last["stride"] is None


def test_table_shows_vgg16_receptive_fields_at_its_default_input():
    result = runner.invoke(app, ["summary", "vgg16"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip().startswith("features.")]
    windows = [int(cells[-2]) for cells in rows if cells[1] in ("Conv2d", "MaxPool2d")]
    assert windows == [3, 5, 6, 10, 14, 16, 24, 32, 40, 44, 60, 76, 92, 100, 132, 164, 196, 212]
    assert "vgg16 on 3x224x224" in result.output and "138,357,544" in result.output


def test_input_and_classes_change_the_model():
    result = runner.invoke(app, ["summary", "resnet18", "--input", "1x64x64", "--num-classes", "7", "--json"])
    data = json.loads(result.output)
    assert data["input"] == [1, 64, 64]
    assert data["layers"][0]["params"] == 64 * 1 * 7 * 7 and data["layers"][-1]["output_shape"] == [7]


def test_impossible_input_is_one_message_and_exit_2():
    result = run_cli("summary", "vgg16", "--input", "3x8x8")
    assert result.returncode == 2 and result.stdout == ""
    message = " ".join(result.stderr.split())
    assert message.startswith("error: input 3x8x8 does not fit vgg16: features.23 (MaxPool2d) failed:")
    assert "Traceback" not in result.stderr


def test_unknown_model_and_bad_shape_are_user_errors():
    for args in (["resnet7"], ["resnet18", "--input", "224x224"], ["resnet18", "--input", "3x0x4"]):
        assert isinstance(runner.invoke(app, ["summary", *args]).exception, CnnlabError)


def test_help_shows_an_example():
    result = runner.invoke(app, ["summary", "--help"])
    assert result.exit_code == 0 and "cnnlab summary resnet50 --input 3x224x224 --json" in result.output


def test_cli_table_and_json(cli):
    code, out, _ = cli("summary", "vgg16", "--dense-equivalent")
    assert code in (0, None)
    assert "150,528 values" in out and "150,528,000 weights" in out and "27 (+1 bias)" in out
    assert "483,385,147,392" in out  # features.0: 150,528 inputs x 3,211,264 outputs
    code, out, _ = cli("summary", "convnet:widths=8-16-32", "--dense-equivalent", "--json")
    data = json.loads(out)
    assert [layer["output_shape"] for layer in data["layers"]][:2] == [[8, 32, 32], [8, 32, 32]]
    assert data["totals"]["dense_weights"] == sum(layer["dense_weights"] for layer in data["layers"])


def test_summary_of_a_run_shows_what_is_frozen(trained_run, tmp_path, cli):
    source_dir, _ = trained_run
    target = two_colour_folder(tmp_path / "target")
    result = fit(data=str(target), pretrained=str(source_dir), freeze="backbone", epochs=1, batch_size=8,
                 out=str(tmp_path / "runs"), name="frozen")
    code, out, _ = cli("summary", str(result.run_dir), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["totals"]["trainable_params"] == 2048 * 256 + 256 + 256 * 2 + 2
    assert [row["trainable"] for row in summary["stages"]] == [0, 0, 0, 2048 * 256 + 256 + 256 * 2 + 2]
    assert next(r for r in summary["layers"] if r["name"] == "features.2.0.conv")["trainable"] == 0
    code, out, _ = cli("summary", str(result.run_dir))
    assert code == 0 and "frozen" in out and "Stages" in out
