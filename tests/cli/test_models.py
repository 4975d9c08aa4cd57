"""`cnnlab models`: the zoo table and its JSON (in process), and its one-line error (as a user would see it)."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from cnnlab.cli.app import app
from cnnlab.models import list_models


def run_cli(*args: str):
    """Invoke the Typer app in process (no interpreter start-up) and return the result."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})


def test_table_lists_every_model_with_its_parameters():
    result = run_cli("models")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for info in list_models():
        row = next(line for line in lines if line.startswith(f"│ {info.name} "))
        assert f"{info.params:,}" in row and "x".join(map(str, info.default_input)) in row
    assert "620,810" in result.stdout and "138,357,544" in result.stdout
    assert "cnnlab[timm]" in result.stdout
    assert max(len(line) for line in lines) <= 80


def test_json_lists_one_object_per_model():
    result = run_cli("models", "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["name"] for e in entries] == [info.name for info in list_models()]
    resnet18 = next(e for e in entries if e["name"] == "resnet18")
    assert resnet18["params"] == 11_689_512 and resnet18["default_input"] == [3, 224, 224]
    assert resnet18["paper"] == "Deep Residual Learning for Image Recognition" and resnet18["year"] == 2015


def test_family_filter():
    result = run_cli("models", "--family", "vgg", "--json")
    assert result.exit_code == 0, result.output
    assert {e["family"] for e in json.loads(result.stdout)} == {"vgg"}


def test_unknown_family_is_a_one_line_error():
    command = [sys.executable, "-m", "cnnlab", "models", "--family", "transformer"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown model family 'transformer'; known: cifar-plain, cifar-resnet, convnet, efficientnet-lite, fast, lenet, resnet, simplecnn, vgg"


def test_help_shows_an_example():
    result = run_cli("models", "--help")
    assert result.exit_code == 0
    assert "cnnlab models --family resnet --json" in " ".join(result.stdout.split())
