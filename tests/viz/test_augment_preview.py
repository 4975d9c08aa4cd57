"""`cnnlab augment preview`: one labelled PNG grid of the course's augmentations and the policies, fixed by the seed."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnlab.viz.augment_preview import PREVIEW_POLICIES, preview_columns

IMAGES = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
COURSE = ["flip", "rotation", "crop", "colour jitter", "cutout", "random erasing"]


def test_columns_are_the_original_the_course_six_and_the_policies():
    columns = preview_columns(IMAGES, ["randaugment", "cutmix"], seed=0)
    names = list(columns)
    assert names[0] == "original" and names[-2:] == ["randaugment", "cutmix"]
    assert [any(name.startswith(op) for name in names) for op in COURSE] == [True] * 6
    assert torch.equal(columns["original"], IMAGES)
    assert torch.equal(columns["flip"], IMAGES.flip(3))
    for name, images in columns.items():
        assert images.shape == IMAGES.shape and images.dtype == torch.uint8, name
        assert name == "original" or not torch.equal(images, IMAGES), name  # every augmentation shows


def test_same_seed_same_columns_other_seed_other_columns():
    first, again, other = (preview_columns(IMAGES, list(PREVIEW_POLICIES), seed=s) for s in (4, 4, 5))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first if k not in ("original", "flip"))


def test_unknown_policy_is_refused():
    with pytest.raises(Exception, match="unknown policy 'mixupp'"):
        preview_columns(IMAGES, ["mixupp"])


def test_cli_writes_the_same_png_for_the_same_seed(cli, colour_folder, tmp_path):
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (1, 1, 2)):
        code, out, _ = cli("augment", "preview", "--data", str(colour_folder), "--count", "3", "--seed", str(seed),
                           "--out", str(path))
        assert code in (0, None) and out.strip() == str(path)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    width, height = Image.open(paths[0]).size
    assert width > 3 * height  # 13 columns of 3 rows


def test_cli_takes_image_files_and_names_a_missing_one(cli, colour_folder, tmp_path):
    image = next((colour_folder / "train" / "red").iterdir())
    code, out, _ = cli("augment", "preview", str(image), "--policy", "augmix", "--out", str(tmp_path / "one.png"))
    assert code in (0, None) and Path(out.strip()).is_file()
    code, _, err = cli("augment", "preview", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "x.png"))
    assert code == 2 and "nope.jpg" in err
