"""Named sources and image folders load into uint8 tensors with the right classes, splits and statistics."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets as tv_datasets
from torchvision.datasets import cifar as tv_cifar

from cnnlab.data.sources import CIFAR_MEAN, load_dataset
from cnnlab.errors import CnnlabError

from conftest import write_grey_images

from conftest import COLOURS, write_colour_images


def test_sample_is_embedded_cifar_subset():
    data = load_dataset("sample")
    assert (len(data.train), len(data.val)) == (5000, 1000)
    assert data.classes[:3] == ["airplane", "automobile", "bird"] and len(data.classes) == 10
    assert data.train.images.dtype == torch.uint8 and data.input_shape == (3, 32, 32)
    assert data.class_counts() == [500] * 10
    assert data.mean == CIFAR_MEAN


def test_folder_with_train_and_test_trees(colour_folder):
    data = load_dataset(str(colour_folder))
    assert data.classes == sorted(COLOURS)
    assert (len(data.train), len(data.val)) == (120, 30)
    red = data.classes.index("red")
    red_images = data.train.images[data.train.labels == red].float()
    assert red_images[:, 0].mean() > 150 and red_images[:, 2].mean() < 100
    assert 0.3 < data.mean[0] < 0.7  # computed on the folder, not borrowed from CIFAR


def test_single_tree_is_split_per_class_with_a_seed(tmp_path):
    write_colour_images(tmp_path / "one", per_class=20, seed=0)
    first = load_dataset(str(tmp_path / "one"), val_split=0.25, seed=3)
    again = load_dataset(str(tmp_path / "one"), val_split=0.25, seed=3)
    other = load_dataset(str(tmp_path / "one"), val_split=0.25, seed=4)
    assert (len(first.train), len(first.val)) == (45, 15)
    assert torch.bincount(first.val.labels).tolist() == [5, 5, 5]
    assert torch.equal(first.val.images, again.val.images)
    assert not torch.equal(first.val.images, other.val.images)


def test_bad_files_are_skipped_and_named(colour_folder):
    red = colour_folder / "train" / "red"
    (red / "notes.txt").write_text("not an image")
    (red / "fake.jpg").write_text("also not an image")
    (red / "empty.png").write_bytes(b"")
    good = (red / "000.png").read_bytes()
    (red / "truncated.png").write_bytes(good[: len(good) // 2])
    data = load_dataset(str(colour_folder))
    skipped = {Path(path).name for path, _ in data.skipped}
    assert {"notes.txt", "fake.jpg", "empty.png", "truncated.png"} <= skipped
    assert len(data.train) == 120


def test_empty_class_and_empty_folder_are_clear_errors(tmp_path):
    write_colour_images(tmp_path / "d", per_class=4, seed=0)
    (tmp_path / "d" / "purple").mkdir()
    with pytest.raises(CnnlabError, match="purple"):
        load_dataset(str(tmp_path / "d"))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CnnlabError, match="no class sub-folders"):
        load_dataset(str(tmp_path / "nothing"))


def test_class_of_only_corrupt_files_is_an_error(tmp_path):
    write_colour_images(tmp_path / "d", per_class=4, seed=0)
    (tmp_path / "d" / "broken").mkdir()
    (tmp_path / "d" / "broken" / "a.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(CnnlabError, match="broken"):
        load_dataset(str(tmp_path / "d"), val_split=0.25)


def test_unknown_source_lists_the_named_ones():
    with pytest.raises(CnnlabError, match="cifar10.*fashion-mnist"):
        load_dataset("imagenet-please")


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (gzipped) as Debian's dataset-fashion-mnist ships them."""
    code = 0x08
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_loads_raw_gzipped_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    data = load_dataset("fashion-mnist", data_dir=str(tmp_path))
    assert data.input_shape == (1, 28, 28) and (len(data.train), len(data.val)) == (12, 5)
    assert data.train.labels.tolist() == [i % 10 for i in range(12)]
    assert data.classes[0] == "T-shirt/top"


def test_cifar10_loads_through_torchvision(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {name: rng.integers(0, 256, (4, 3072), dtype=np.uint8) for name, _ in tv_datasets.CIFAR10.train_list}
    batches["test_batch"] = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    for name, array in batches.items():
        with open(folder / name, "wb") as f:
            pickle.dump({"data": array, "labels": list(range(len(array)))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["c%d" % i for i in range(10)]}, f)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)  # our made-up files have no md5
    data = load_dataset("cifar10", data_dir=str(tmp_path))
    assert (len(data.train), len(data.val)) == (20, 3) and data.input_shape == (3, 32, 32)
    first = batches["data_batch_1"][0].reshape(3, 32, 32)
    assert torch.equal(data.train.images[0], torch.from_numpy(first))


def test_missing_named_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(CnnlabError, match="`download`"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_a_folder_of_grey_images_stays_grey_unless_rgb_is_asked_for(tmp_path, heard):
    write_grey_images(tmp_path / "grey")
    assert load_dataset(str(tmp_path / "grey")).input_shape == (1, 12, 12)
    rgb = load_dataset(str(tmp_path / "grey"), channels=3)
    assert rgb.input_shape == (3, 12, 12) and torch.equal(rgb.train.images[:, 0], rgb.train.images[:, 2])
    assert "the images are grey: each is repeated to 3 channels" in heard.lines


def test_a_named_grey_dataset_is_repeated_to_rgb_when_asked(tmp_path, heard):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 3)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    data = load_dataset("fashion-mnist", data_dir=str(tmp_path), channels=3)
    assert data.input_shape == (3, 28, 28) and len(data.mean) == len(data.std) == 3
    assert torch.equal(data.train.images[:, 1], data.train.images[:, 0]) and "made 3" in heard.lines
