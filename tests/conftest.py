"""Shared fixtures: an isolated cache folder and small image folders made at run time."""

from pathlib import Path

import pytest
import torch
from torchvision.io import write_png

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


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


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """A tiny train/test image folder with three easily separable colour classes."""
    write_colour_images(tmp_path / "colours" / "train", per_class=40, seed=1)
    write_colour_images(tmp_path / "colours" / "test", per_class=10, seed=2)
    return tmp_path / "colours"
