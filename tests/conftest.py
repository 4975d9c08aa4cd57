"""Shared fixtures: an isolated cache folder, small image folders made at run time, the CLI run in-process, a browser."""

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torchvision.io import write_png

from cnnlab import events
from cnnlab.cli.app import main

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


@pytest.fixture(autouse=True)
def denormals_restored() -> Iterator[None]:
    """Training flushes denormals to zero for speed; other tests (hypothesis's float draws) need them back."""
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test decodes into its own cache folder, never the user's."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("CNNLAB_CACHE", str(path))
    return path


def write_colour_images(root: Path, per_class: int, seed: int, size: int = 32) -> None:
    """PNG images per colour class: the class colour plus noise, so a small CNN can learn them."""
    generator = torch.Generator().manual_seed(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = torch.randint(-30, 31, (3, size, size), generator=generator)
            image = (torch.tensor(rgb).view(3, 1, 1) + noise).clamp(0, 255).to(torch.uint8)
            write_png(image, str(root / name / f"{i:03d}.png"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run directory, its root folder) of a run that tells red, green and blue images apart."""
    from cnnlab.settings import resolve
    from cnnlab.train.fit import fit

    root = tmp_path_factory.mktemp("trained")
    write_colour_images(root / "data" / "train", per_class=40, seed=1)
    write_colour_images(root / "data" / "test", per_class=10, seed=2)
    config = resolve(data=str(root / "data"), out=str(root / "runs"), name="colours", epochs=3, batch_size=32,
                            lr=2e-3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        return fit(config).run_dir, root


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """A tiny train/test image folder with three easily separable colour classes."""
    write_colour_images(tmp_path / "colours" / "train", per_class=40, seed=1)
    write_colour_images(tmp_path / "colours" / "test", per_class=10, seed=2)
    return tmp_path / "colours"


class Recorder(events.Reporter):
    """Keeps every event the library emits."""

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def emit(self, event: events.Event) -> None:
        self.events.append(event)

    @property
    def lines(self) -> str:
        """Every event's line, one per line."""
        return "\n".join(event.line() for event in self.events)


@pytest.fixture
def heard() -> Iterator[Recorder]:
    """The events the library emits during the test."""
    with events.reporting(Recorder()) as recorder:
        yield recorder


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Cli:
    """Run the real CLI entry point in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["cnnlab", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        return exited.value.code, captured.out, captured.err

    return run


@pytest.fixture
def browser() -> Iterator[object]:
    """A real headless Chromium (Debian's package) driven by Playwright; CI must have it, elsewhere it may skip.

    One per test: Playwright's sync API keeps an event loop running in this thread while it is open, and other
    tests call asyncio.run."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and the playwright package for the browser tests")
        pytest.skip("no chromium here: apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()
