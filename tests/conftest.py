"""Shared fixtures: an isolated cache folder, small image folders made at run time, the CLI run in-process, a browser,
torchvision's ImageNet weights served from 127.0.0.1; and the image-folder helpers tests in several folders use."""

import functools
import hashlib
import http.server
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torchvision.io import write_jpeg, write_png
from torchvision.models import ResNet18_Weights

from cnnlab import events
from cnnlab.cli.app import main
from cnnlab.models import create_model

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


SHAPES = {"circle": (230, 40, 40), "square": (40, 210, 60), "triangle": (50, 70, 235)}  # write_shape_images' labels


def write_shape_images(root: Path, count: int, seed: int, size: int = 32, separator: str = "|") -> list[set[str]]:
    """`count` PNGs of grey noise with each shape of SHAPES drawn (in its colour, at a random place and size) with
    chance one half, and root/labels.csv naming the shapes each image holds (`separator` between them; an empty cell when it
    has none), with a split column (every fifth image `val`). Returns each image's labels."""
    import csv
    import random

    import numpy as np
    from PIL import Image, ImageDraw

    rng, noise = random.Random(seed), np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    truth = []
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "tags", "part"])
        for i in range(count):
            image = Image.fromarray(noise.integers(60, 140, (size, size, 3), dtype=np.uint8))
            draw, present = ImageDraw.Draw(image), {shape for shape in SHAPES if rng.random() < 0.5}
            for shape in sorted(present):
                fill = SHAPES[shape]
                side = rng.randint(size // 4, size // 3)
                x, y = rng.randint(0, size - side - 1), rng.randint(0, size - side - 1)
                box = (x, y, x + side, y + side)
                if shape == "circle":
                    draw.ellipse(box, fill=fill)
                elif shape == "square":
                    draw.rectangle(box, fill=fill)
                else:
                    draw.polygon([(x, y + side), (x + side, y + side), (x + side // 2, y)], fill=fill)
            image.save(root / f"{i:04d}.png")
            writer.writerow([f"{i:04d}.png", separator.join(sorted(present)), "val" if i % 5 == 0 else "train"])
            truth.append(present)
    return truth


def write_grey_images(root, per_class: int = 4) -> None:
    """Grey PNGs (mode L) in two classes, dark and light."""
    from PIL import Image

    for name, level in (("dark", 40), ("light", 200)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("L", (12, 12), level + i).save(root / name / f"{i}.png")



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


@pytest.fixture(scope="session")
def labelled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[set[str]]]:
    """(run directory, its image folder, each image's labels) of a multi-label run that tells which of three
    coloured shapes each image holds (write_shape_images: 400 images at 24 px; the CSV's 80 `val` rows are the test
    split, and 15% of the training images are held out to validate on and tune the thresholds)."""
    from cnnlab.train.fit import fit

    root = tmp_path_factory.mktemp("labelled")
    truth = write_shape_images(root / "shapes", 400, seed=0, size=24)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_CACHE", str(root / "cache"))
        run = fit(data=str(root / "shapes"), labels=str(root / "shapes" / "labels.csv"), label_separator="|",
                  split_column="part", holdout=0.15, model="simplecnn", epochs=3, batch_size=32, lr=2e-3,
                  out=str(root / "runs"), name="shapes").run_dir
    return run, root / "shapes", truth


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


def write_mixed_sizes(root: Path) -> None:
    """Two classes of images in five sizes and three formats (short sides 24, 30, 40, 36, 64: median 36)."""
    generator = torch.Generator().manual_seed(0)
    sizes = [(24, 40), (30, 30), (40, 60), (48, 36), (64, 64)]
    for name, colour in (("dark", 40), ("light", 210)):
        for split, count in (("train", 10), ("test", 3)):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                h, w = sizes[i % len(sizes)]
                image = (colour + torch.randint(-20, 21, (3, h, w), generator=generator)).to(torch.uint8)
                (write_jpeg if i % 2 else write_png)(image, str(root / split / name / f"{i}.{'jpg' if i % 2 else 'png'}"))


def two_colour_folder(root):
    """Another dataset: two of the colours under new class names, fewer images."""
    write_colour_images(root / "train", per_class=12, seed=5)
    write_colour_images(root / "test", per_class=4, seed=6)
    for split in ("train", "test"):
        (root / split / "red").rename(root / split / "warm")
        (root / split / "blue").rename(root / split / "cool")
        for file in (root / split / "green").iterdir():
            file.unlink()
        (root / split / "green").rmdir()
    return root


@pytest.fixture
def tiny_folder(tmp_path):
    """24 train and 12 validation 16x16 images of three colours."""
    write_colour_images(tmp_path / "data" / "train", per_class=8, seed=1, size=16)
    write_colour_images(tmp_path / "data" / "test", per_class=4, seed=2, size=16)
    return tmp_path / "data"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder without logging each request."""

    def log_message(self, *args: object) -> None:
        """Say nothing."""


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet18 state dict saved under torchvision's naming (`name-<sha256 prefix>.pth`), as on its server."""
    folder = tmp_path_factory.mktemp("served")
    torch.manual_seed(7)
    temp = folder / "weights.tmp"
    torch.save(create_model("resnet18").state_dict(), temp)
    digest = hashlib.sha256(temp.read_bytes()).hexdigest()[:8]
    return temp.rename(folder / f"resnet18-{digest}.pth")


@pytest.fixture
def served(weights_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ResNet18_Weights.IMAGENET1K_V1 pointed at a local HTTP server; TORCH_HOME empty. Yields TORCH_HOME."""
    handler = functools.partial(QuietHandler, directory=str(weights_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{weights_file.name}"
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", url)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    yield tmp_path / "torch"
    server.shutdown()
    server.server_close()
