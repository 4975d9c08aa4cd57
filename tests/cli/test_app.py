"""The CLI's shell: version, help, and one-line user errors."""

import subprocess
import sys

from cnnlab import __version__


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m cnnlab ARGS` as a user would and capture its output."""
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True)


def test_version_prints_package_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"cnnlab {__version__}"


def test_help_lists_usage():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
