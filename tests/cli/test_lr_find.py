"""`cnnlab lr-find`: the suggested rate and the next command to run."""

from typer.testing import CliRunner

from cnnlab.cli.app import app


def test_cli_prints_the_suggestion_and_the_next_command(colour_folder, tmp_path):
    result = CliRunner().invoke(app, ["lr-find", "--data", str(colour_folder), "--out", str(tmp_path),
                                      "--batch-size", "16", "--steps", "20", "--start", "1e-5", "--end", "1"])
    assert result.exit_code == 0, result.output
    assert "suggested lr:" in result.output and "next: cnnlab train --lr" in result.output
