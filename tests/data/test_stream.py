"""Folders too large for memory stream from disk through DataLoader workers, each rank of a job reading its share;
folders of mixed sizes get a common one."""

import csv
from pathlib import Path

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from cnnlab.data import stream
from cnnlab.data.labels import LabelFile
from cnnlab.data.loader import DeviceLoader, batch_source
from cnnlab.data.sources import load_dataset
from cnnlab.data.stream import FileBatches, StreamSet
from cnnlab.settings import resolve
from cnnlab.train.fit import fit

from conftest import write_mixed_sizes


def test_forced_streaming_keeps_files_on_disk_with_the_same_statistics(colour_folder):
    memory = load_dataset(str(colour_folder))
    streamed = load_dataset(str(colour_folder), stream=True)
    assert isinstance(streamed.train, StreamSet) and isinstance(streamed.val, StreamSet)
    assert streamed.input_shape == memory.input_shape == (3, 32, 32)
    assert torch.equal(streamed.train.labels, memory.train.labels)
    assert streamed.mean == pytest.approx(memory.mean, abs=0.02) and streamed.std == pytest.approx(memory.std, abs=0.02)


def test_a_memory_budget_too_small_switches_to_streaming(colour_folder, monkeypatch, heard):
    monkeypatch.setenv("CNNLAB_MEMORY_BUDGET", "1e5")  # 150 images of 3x32x32 need 460,800 bytes
    data = load_dataset(str(colour_folder))
    assert isinstance(data.train, StreamSet)
    assert "streaming from disk" in heard.lines
    monkeypatch.setenv("CNNLAB_MEMORY_BUDGET", "1e6")
    assert not isinstance(load_dataset(str(colour_folder)).train, StreamSet)


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluation_batches_are_the_centre_crops_in_file_order(colour_folder, workers):
    streamed = load_dataset(str(colour_folder), stream=True)
    memory = load_dataset(str(colour_folder))
    batches = list(batch_source(streamed.val, 8, workers=workers))
    assert [len(labels) for _, labels in batches] == [8, 8, 8, 6]
    images = torch.cat([images for images, _ in batches])
    expected = F.center_crop(F.resize(memory.val.images, [37], antialias=True), [32, 32])  # 37 = 32 / 0.875
    assert images.dtype == torch.uint8 and torch.equal(images, expected)


def test_training_crops_are_random_and_seeded(colour_folder):
    data = load_dataset(str(colour_folder), stream=True)
    first = [images for images, _ in batch_source(data.train, 16, shuffle=True, seed=1, workers=2, random_crop=True)]
    again = [images for images, _ in batch_source(data.train, 16, shuffle=True, seed=1, workers=2, random_crop=True)]
    other = [images for images, _ in batch_source(data.train, 16, shuffle=True, seed=2, workers=2, random_crop=True)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_unreadable_files_are_skipped_and_named_once(colour_folder, heard):
    red = colour_folder / "test" / "red"
    good = (red / "000.png").read_bytes()
    (red / "truncated.png").write_bytes(good[: len(good) // 2])
    data = load_dataset(str(colour_folder), stream=True)
    loader = DeviceLoader(data.val, 64, data.mean, data.std)
    for _ in range(2):
        assert sum(len(labels) for _, labels in loader) == 30
    assert heard.lines.count("truncated.png") == 1


def test_training_from_a_streamed_folder_learns(colour_folder, tmp_path):
    config = resolve(data=str(colour_folder), out=str(tmp_path), stream=True, workers=0, epochs=3,
                            batch_size=32, lr=2e-3, seed=0)
    assert fit(config).final_accuracy > 0.9


def test_mixed_sizes_are_resized_to_the_median_short_side(tmp_path, heard):
    write_mixed_sizes(tmp_path / "mixed")
    data = load_dataset(str(tmp_path / "mixed"))
    assert data.input_shape == (3, 36, 36)
    assert "resizing them to 36x36" in heard.lines
    assert load_dataset(str(tmp_path / "mixed"), size=28).input_shape == (3, 28, 28)


def labelled_folder(folder: Path) -> LabelFile:
    """A labels.csv naming every training image of a class-folder tree, for the same images read the CSV way."""
    files = sorted(folder.rglob("train/*/*.png"))
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        writer.writerows([(path.relative_to(folder), path.parent.name) for path in files])
    return LabelFile(str(folder / "labels.csv"))


def decoded_shares(data, ranks, seed, epochs, monkeypatch):
    """Per epoch and rank, the files that rank decoded (the decoder counted) and its batches' labels."""
    decoded: list[Path] = []
    real = stream.decode_image
    monkeypatch.setattr(stream, "decode_image", lambda path, **kw: decoded.append(path) or real(path, **kw))
    loaders = [FileBatches(data, 16, shuffle=True, train=True, workers=0, seed=seed, rank=rank, ranks=ranks)
               for rank in range(ranks)]
    shares = []
    for _ in range(epochs):
        epoch = []
        for loader in loaders:
            decoded.clear()
            batches = [labels.tolist() for _, labels in loader]
            epoch.append((list(decoded), batches))
        shares.append(epoch)
    return shares


@pytest.mark.parametrize("labelled", [False, True], ids=["folder", "csv"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_each_rank_decodes_only_its_share_and_together_every_file_once_per_epoch(colour_folder, ranks, labelled,
                                                                                 monkeypatch):
    labels = labelled_folder(colour_folder) if labelled else None
    data = load_dataset(str(colour_folder), stream=True, labels=labels, val_split=0.2 if labelled else None).train
    files = sorted(data.files.paths)
    shares = decoded_shares(data, ranks, seed=4, epochs=2, monkeypatch=monkeypatch)
    (single,) = decoded_shares(data, 1, seed=4, epochs=1, monkeypatch=monkeypatch)[0]
    for epoch in shares:
        union = [path for decoded, _ in epoch for path in decoded]
        assert sorted(union) == files  # every file once in the epoch, by one rank
        for decoded, _ in epoch:
            assert abs(len(decoded) - len(files) / ranks) <= -(-len(files) // 16)  # a share: at most one more per batch
    for batch in range(len(single[1])):  # rank by rank, the shares of a batch make the single process's batch
        assert sum((batches[batch] for _, batches in shares[0]), []) == single[1][batch]
    assert shares[0][0][0] != shares[1][0][0]  # a fresh order each epoch
    assert shares == decoded_shares(data, ranks, seed=4, epochs=2, monkeypatch=monkeypatch)  # from the seed
