"""Image folders: what is in a class folder besides images is named with its reason, whatever the file's name."""

import os
import shutil

import pytest

from cnnlab.data.folder import list_files, scan_folder
from cnnlab.data.sources import load_dataset
from cnnlab.errors import CnnlabError

from conftest import write_colour_images


def test_everything_that_is_not_an_image_is_named_with_its_reason(colour_folder):
    red = colour_folder / "train" / "red"
    (red / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (red / "gone.jpg").symlink_to(red / "no-such-file.jpg")
    (red / "folder.jpg").mkdir()
    (red / ".ipynb_checkpoints").mkdir()
    shutil.copy(red / "000.png", red / ".ipynb_checkpoints" / "000-checkpoint.png")
    (red / "notes.txt").write_text("not an image")
    files = list_files(colour_folder / "train", ["blue", "green", "red"])
    reasons = {os.path.basename(path): reason for path, reason in files.skipped}
    assert reasons == {".DS_Store": "a hidden file", "gone.jpg": "a broken link",
                       "folder.jpg": "a folder, not an image file", ".ipynb_checkpoints": "a hidden folder (not read)",
                       "notes.txt": "not an image file (by its extension)"}
    assert len(files.paths) == 120  # the colour images, and nothing from the hidden folder


def test_a_name_that_is_not_utf8_trains_and_is_shown_escaped(colour_folder, tmp_path):
    red = os.fsencode(colour_folder / "train" / "red")
    shutil.copy(os.path.join(red, b"000.png"), os.path.join(red, b"bad\xffname.png"))
    (colour_folder / "train" / "red" / "broken\udcffname.png").write_bytes(b"not a png")  # the same bytes' kind
    data = load_dataset(str(colour_folder))
    assert len(data.train) == 121
    assert [(os.path.basename(path), reason) for path, reason in data.skipped] == [
        ("broken\\xffname.png", "not an image (text)")]  # escaped, so it prints anywhere


def test_a_folder_of_one_class_is_refused(tmp_path):
    from conftest import write_colour_images

    write_colour_images(tmp_path / "one", per_class=4, seed=0)
    for name in ("green", "blue"):
        shutil.rmtree(tmp_path / "one" / name)
    with pytest.raises(CnnlabError, match="one class sub-folder \\(red\\): a classifier needs two or more"):
        scan_folder(tmp_path / "one")


def test_an_evaluation_tree_may_hold_fewer_classes(colour_folder):
    for name in ("green", "blue"):
        shutil.rmtree(colour_folder / "test" / name)
    scan = scan_folder(colour_folder)
    assert scan.classes == ["blue", "green", "red"] and set(scan.val.labels) == {2} and scan.own_split


def test_val_and_test_trees_side_by_side_keep_validation_and_test_apart(tmp_path):
    for split, count, seed in (("train", 5, 1), ("val", 2, 2), ("test", 3, 3)):
        write_colour_images(tmp_path / split, per_class=count, seed=seed, size=16)
    data = load_dataset(str(tmp_path))
    assert (len(data.train), len(data.val), len(data.test)) == (15, 6, 9) and not data.own_split
    assert data.split() == ("test", data.test)
    only_test = tmp_path / "two"
    only_test.mkdir()
    for split in ("train", "test"):
        (tmp_path / split).rename(only_test / split)
    two = load_dataset(str(only_test))
    assert two.test is None and two.own_split and len(two.val) == 9
