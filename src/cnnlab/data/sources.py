"""Where images come from: the embedded sample, CIFAR, MNIST, Fashion-MNIST and image folders, loaded as in-memory
uint8 tensors (or, for a folder too large for memory, as files to stream)."""

import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from cnnlab import events
from cnnlab.data.augment import GRAY_WEIGHTS
from cnnlab.data.cache import cache_root, decode_cached
from cnnlab.data.dataset import Dataset, ImageSet
from cnnlab.data.decode import Size, probe_sizes
from cnnlab.data.folder import FileList, sample_files, scan_folder
from cnnlab.data.labels import LabelFile, read_labels
from cnnlab.data.multilabel import label_counts
from cnnlab.data.stream import StreamSet
from cnnlab.errors import CnnlabError, SettingError

SAMPLE_DIR = Path(__file__).parent / "sample"
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
MIXED_SIZE_CAP = 224  # folders of mixed sizes are resized to a square of their median short side, at most this
STATS_SAMPLE = 512  # images decoded for the mean/std of a streamed folder
SIZE_PROBES = 64  # image headers read to tell whether a folder's images share one size


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1]."""
    x = images.transpose(0, 1).reshape(images.shape[1], -1).double() / 255
    return tuple(round(v, 4) for v in x.mean(1).tolist()), tuple(round(v, 4) for v in x.std(1).tolist())


def resized(images: torch.Tensor, size: int | tuple[int, int], chunk: int = 4096) -> torch.Tensor:
    """uint8 images resized to `size` (a side: square; or (height, width)), antialiased bilinear, in chunks."""
    shape = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == shape:
        return images
    out = torch.empty((len(images), images.shape[1], *shape), dtype=torch.uint8)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].float()
        scaled = torch.nn.functional.interpolate(part, size=shape, mode="bilinear", antialias=True, align_corners=False)
        out[start:start + chunk] = scaled.round_().clamp_(0, 255).to(torch.uint8)
    return out


def with_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) with `channels`: grey repeated to RGB, RGB to its ITU-R 601 luma, others as they are."""
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return images.repeat(1, channels, 1, 1)
    weights = torch.tensor(GRAY_WEIGHTS, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)


def decode_split(files: FileList, channels: int, size: Size, what: str) -> ImageSet:
    """Decode a file list (through the cache), keeping what decodes and recording what does not."""
    images, labels, skipped = decode_cached(files.paths, files.labels, channels, size, f"decoding {what}")
    files.skipped.extend(skipped)
    if len(labels) == 0:
        raise CnnlabError(f"no usable images in the {what} ({len(files.skipped)} files skipped)")
    return ImageSet(images, labels)


def load_folder(
    root: str | Path, val_split: float | None = None, seed: int = 0, channels: int | None = None, size: Size = None,
    stream: bool | None = None, labels: LabelFile | None = None,
) -> Dataset:
    """An image folder, in memory or (stream=True, or when too large for memory) streamed from disk.

    A folder with train/ and val/ (or test/) trees keeps that split (with both, validation and test apart), and a
    `val_split` for it is refused; one tree is split per class by `val_split` (default 0.1) with `seed`. `size` is decode_image's: an int resizes the short side
    and centre-crops a square, (H, W) resizes exactly. Without it, images keep their own size when they all share one,
    else they are resized to a common one. Without `channels`, grey images (every one of a sample of headers) are
    kept grey, one channel, and others RGB. Mean/std are computed on the training images (a sample when streaming).
    With `labels` (a CSV file), the classes and the split come from the file and `root` only holds the images.
    """
    root = Path(root).expanduser()
    scan = read_labels(root, labels, val_split, seed) if labels else scan_folder(root, val_split, seed)
    train_files = scan.train
    evaluated = [files for files in (scan.val, scan.test) if files is not None]
    probes = probe_sizes(sample_files(train_files, SIZE_PROBES).paths)
    if not probes:
        raise CnnlabError(f"none of the {len(train_files.paths)} image files could be read")
    grey = all(is_grey for _, _, is_grey in probes)
    if grey and channels == 3:
        events.note(f"{root.name}: the images are grey: each is repeated to 3 channels, as the weights take RGB")
    channels = channels or (1 if grey else 3)
    size = size or common_size(probes)
    shape = (size, size) if isinstance(size, int) else tuple(size)
    if stream is None:
        images = len(train_files.paths) + sum(len(files.paths) for files in evaluated)
        stream = decoded_bytes(images, channels, shape) > memory_budget()
        if stream:
            events.note(f"{root.name}: too large to hold in memory at {shape[1]}x{shape[0]}: streaming from disk")
    if stream:
        train, *held = (StreamSet(files, channels, shape) for files in (train_files, *evaluated))
        mean, std = channel_stats(decode_split(sample_files(train_files, STATS_SAMPLE), channels, size, "sample").images)
    else:
        train, *held = (decode_split(files, channels, size, f"{root.name} {name}")
                        for files, name in zip((train_files, *evaluated), ("train", "val", "test")))
        empty = [c for c, n in zip(scan.classes, label_counts(train.labels, len(scan.classes)).tolist()) if n == 0]
        if empty:
            raise CnnlabError(f"classes with no usable training images: {', '.join(empty)}")
        mean, std = channel_stats(train.images)
    skipped = sorted({entry for files in (train_files, *evaluated) for entry in files.skipped})  # decoding adds some
    return Dataset(root.name, scan.classes, train, held[0], mean, std, skipped, scan.own_split,
                   held[1] if len(held) > 1 else None)


def common_size(probes: list[tuple[int, int, bool]]) -> int | tuple[int, int]:
    """The (height, width) all probed images share, or (when they differ) the median short side, at most
    MIXED_SIZE_CAP, to which each image's short side is resized before a centre crop."""
    sizes = [(h, w) for h, w, _ in probes]
    if len(set(sizes)) == 1:
        return sizes[0]
    short = sorted(min(h, w) for h, w in sizes)[len(sizes) // 2]
    side = min(short, MIXED_SIZE_CAP)
    events.note(f"images differ in size: resizing them to {side}x{side} (choose with `image_size`)")
    return side


def decoded_bytes(count: int, channels: int, size: tuple[int, int]) -> int:
    """Memory that `count` decoded uint8 images take."""
    return count * channels * size[0] * size[1]


def memory_budget() -> int:
    """How much decoded data is kept in memory: $CNNLAB_MEMORY_BUDGET bytes, else a quarter of the machine's RAM."""
    if "CNNLAB_MEMORY_BUDGET" in os.environ:
        return int(float(os.environ["CNNLAB_MEMORY_BUDGET"]))
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def load_sample(size: Size = None, stream: bool | None = None, channels: int | None = None) -> Dataset:
    """The CIFAR-10 subset embedded in the package (500 train and 100 test images per class), with CIFAR-10's
    statistics."""
    data = load_folder(SAMPLE_DIR, size=size, stream=stream, channels=channels)
    data.name, data.mean, data.std = "sample", CIFAR_MEAN, CIFAR_STD
    return data


def torchvision_root(data_dir: str | Path | None) -> Path:
    """Where torchvision's dataset classes look for (or download) their files."""
    return Path(data_dir).expanduser() if data_dir else cache_root() / "datasets"


def load_cifar(name: str, data_dir: str | Path | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 or CIFAR-100 through torchvision's dataset classes (python pickles)."""
    from torchvision import datasets

    cls, mean, std = {
        "cifar10": (datasets.CIFAR10, CIFAR_MEAN, CIFAR_STD),
        "cifar100": (datasets.CIFAR100, CIFAR100_MEAN, CIFAR100_STD),
    }[name]
    root = torchvision_root(data_dir)
    splits = [torchvision_call(cls, name, root, train, download) for train in (True, False)]
    sets = [ImageSet(torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(s.targets)) for s in splits]
    return Dataset(name, list(splits[0].classes), sets[0], sets[1], mean, std)


def torchvision_call(cls: Callable, name: str, root: Path, train: bool, download: bool) -> object:
    """Instantiate a torchvision dataset, turning a missing copy or a failed download into one line."""
    try:
        return cls(root=str(root), train=train, download=download)
    except RuntimeError as err:
        hint = "set `download` to fetch it" if not download else "check the network or set `data_dir`"
        raise CnnlabError(f"{name} not found under {root} ({err}); {hint}") from None
    except OSError as err:
        raise CnnlabError(f"could not download {name} into {root}: {err}; point `data_dir` at an existing copy") from None


MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_idx_files(data_dir: Path, train: bool) -> tuple[Path, Path] | None:
    """The raw IDX image and label files in a folder (plain or .gz), or None."""
    found = []
    for stem in MNIST_FILES[train]:
        candidates = [p for p in data_dir.rglob(f"{stem}*") if p.name in (stem, stem + ".gz")]
        if not candidates:
            return None
        found.append(sorted(candidates)[0])
    return found[0], found[1]


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (optionally gzipped) through torchvision's reader."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    if path.suffix != ".gz":
        return read_sn3_pascalvincent_tensor(str(path))
    plain = cache_root() / "idx" / path.stem
    if not plain.exists():
        plain.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "rb") as src, open(plain.with_suffix(".tmp"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        plain.with_suffix(".tmp").replace(plain)
    return read_sn3_pascalvincent_tensor(str(plain))


def load_mnist(name: str, data_dir: str | Path | None = None, download: bool = False) -> Dataset:
    """MNIST or Fashion-MNIST: raw IDX files in `data_dir` (e.g. Debian's), else torchvision's dataset class."""
    from torchvision import datasets

    cls, mean, std = {
        "mnist": (datasets.MNIST, MNIST_MEAN, MNIST_STD),
        "fashion-mnist": (datasets.FashionMNIST, FASHION_MEAN, FASHION_STD),
    }[name]
    raw = [find_idx_files(Path(data_dir).expanduser(), t) for t in (True, False)] if data_dir else [None, None]
    if all(raw):
        sets = [ImageSet(read_idx(i).unsqueeze(1), read_idx(l).long()) for i, l in raw]
    else:
        root = torchvision_root(data_dir)
        splits = [torchvision_call(cls, name, root, train, download) for train in (True, False)]
        sets = [ImageSet(s.data.unsqueeze(1), s.targets.long()) for s in splits]
    return Dataset(name, list(cls.classes), sets[0], sets[1], mean, std)


NAMED: dict[str, Callable[..., Dataset]] = {
    "cifar10": lambda **kw: load_cifar("cifar10", **kw),
    "cifar100": lambda **kw: load_cifar("cifar100", **kw),
    "mnist": lambda **kw: load_mnist("mnist", **kw),
    "fashion-mnist": lambda **kw: load_mnist("fashion-mnist", **kw),
}
SOURCES = ("sample", *NAMED)


def load_dataset(
    source: str = "sample",
    data_dir: str | Path | None = None,
    download: bool = False,
    val_split: float | None = None,
    seed: int = 0,
    channels: int | None = None,
    size: Size = None,
    stream: bool | None = None,
    labels: LabelFile | None = None,
) -> Dataset:
    """A named source (sample, cifar10, cifar100, mnist, fashion-mnist) or the path of an image folder; `size`
    resizes any of them, `channels` (1 or 3) makes grey images RGB or RGB grey (by default, grey stays grey). An
    argument the source has no use for is refused, naming it."""
    if source in NAMED:
        refuse_for(source, labels=(labels, "it has its own labels; it applies to image folders"),
                   val_split=(val_split, "it has its own test split; it applies to image folders"),
                   stream=(stream or None, "its files are read into memory whole; it applies to image folders"))
        data = NAMED[source](data_dir=data_dir, download=download)
        if channels and channels != data.input_shape[0]:
            events.note(f"{source}: {data.input_shape[0]} channel(s) made {channels}, as the model takes them")
            data.mean, data.std = (tuple(sum(stat) / len(stat) for _ in range(channels)) for stat in (data.mean, data.std))
        for part in ("train", "val"):
            split = getattr(data, part)
            images = with_channels(split.images, channels) if channels else split.images
            setattr(data, part, ImageSet(resized(images, size) if size else images, split.labels))
        return data
    why = "applies to the named datasets (cifar10, cifar100, mnist, fashion-mnist), not to image folders"
    refuse_for(source, data_dir=(data_dir, why), download=(download or None, why))
    if source == "sample":
        refuse_for(source, val_split=(val_split, "it has its own test split; it applies to image folders"),
                   labels=(labels, "it has its own labels; it applies to image folders"))
        return load_sample(size=size, stream=stream, channels=channels)
    if Path(source).expanduser().is_dir():
        return load_folder(source, val_split=val_split, seed=seed, channels=channels, size=size, stream=stream,
                           labels=labels)
    raise SettingError("data", f"{source!r} is neither a dataset ({', '.join(SOURCES)}) nor an image folder")


def refuse_for(source: str, **given: tuple[object, str]) -> None:
    """Refuse the first argument given a value (not None) that `source` cannot use, saying why."""
    for name, (value, why) in given.items():
        if value is not None:
            raise SettingError(name, f"does not apply to {source}: {why}")

