"""Image folders: one sub-folder per class, either split into train/ and val/ (or test/, or both) or one tree to split."""

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from cnnlab.data.decode import is_image_path, shown
from cnnlab.data.multilabel import strata
from cnnlab.errors import CnnlabError, SettingError

VAL_SPLIT_NAMES = ("val", "valid", "validation")
EVAL_SPLIT_NAMES = (*VAL_SPLIT_NAMES, "test")
DEFAULT_VAL_SPLIT = 0.1  # held out of each class of a folder without its own evaluation tree


@dataclass
class FileList:
    """Image files with their labels (class indices, or multi-hot rows of 0/1 for several labels per image), plus the
    files skipped for not being images."""

    paths: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Scan(NamedTuple):
    """A folder's classes and files by split: `val` is the evaluation split, the data's own when `own_split`; `test`
    is set only where the data brings validation and test images apart (then `val` holds the validation ones)."""

    classes: list[str]
    train: FileList
    val: FileList
    own_split: bool
    test: FileList | None = None


def evenly_spaced(count: int, limit: int) -> list[int]:
    """Up to `limit` indices spread evenly over range(count)."""
    return list(range(0, count, max(1, count // limit)))[:limit]


def sample_files(files: FileList, limit: int) -> FileList:
    """Up to `limit` files spread evenly over a list (for statistics and probes)."""
    chosen = evenly_spaced(len(files.paths), limit)
    return FileList([files.paths[i] for i in chosen], [files.labels[i] for i in chosen])


def find_classes(root: Path) -> list[str]:
    """The sorted names of the class sub-folders of `root`."""
    if not root.is_dir():
        raise CnnlabError(f"{root}: no such folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise CnnlabError(f"{shown(root)}: no class sub-folders (expected {shown(root)}/<class>/<image files>)")
    return classes


def training_classes(root: Path) -> list[str]:
    """The class sub-folders of a training tree: at least two, or there is nothing to tell apart."""
    classes = find_classes(root)
    if len(classes) == 1:
        raise CnnlabError(f"{shown(root)}: one class sub-folder ({shown(classes[0])}): a classifier needs two or more")
    return classes


def list_files(root: Path, classes: list[str]) -> FileList:
    """Every image file under root/<class>/ (recursively, following links to folders), in a fixed order. Everything
    else that is there is named as skipped, with the reason: other files, hidden files and folders (.DS_Store, .git),
    broken links, a folder whose name looks like an image's."""
    files = FileList()
    for index, name in enumerate(classes):
        class_dir, found = root / name, []
        for folder, subfolders, names in os.walk(class_dir, followlinks=True):
            here = Path(folder)
            found += [(here / sub, "a hidden folder (not read)") for sub in subfolders if sub.startswith(".")]
            found += [(here / sub, "a folder, not an image file") for sub in subfolders if is_image_path(sub)]
            subfolders[:] = [sub for sub in subfolders if not sub.startswith(".")]
            found += [(here / n, skip_reason(here / n)) for n in names]
        for path, reason in sorted(found):
            if reason is None:
                files.paths.append(path)
                files.labels.append(index)
            else:
                files.skipped.append((shown(path), reason))
        if not class_dir.is_dir() or index not in files.labels:
            raise CnnlabError(f"class {shown(name)!r} has no image files in {shown(class_dir)}")
    return files


def skip_reason(path: Path) -> str | None:
    """Why a file found in a class folder is not used as an image; None when it is one."""
    if path.name.startswith("."):
        return "a hidden file"
    if path.is_symlink() and not path.exists():
        return "a broken link"
    if not path.is_file():
        return "not a regular file"
    if not is_image_path(path):
        return "not an image file (by its extension)"
    return None


def split_files(files: FileList, fraction: float, seed: int) -> tuple[FileList, FileList]:
    """Split per class (for multi-hot labels, per stratum: see multilabel.strata) into (train, val) with `fraction` of
    each in val, the same for the same seed."""
    if not 0.0 < fraction < 1.0:
        raise SettingError("val_split", f"must be between 0 and 1 (exclusive), got {fraction}")
    rng = random.Random(seed)
    train, val = FileList(skipped=files.skipped), FileList()
    keys = strata(torch.tensor(files.labels)).tolist() if files.labels else []
    for key in sorted(set(keys)):
        members = [i for i, k in enumerate(keys) if k == key]
        rng.shuffle(members)
        n_val = max(1, round(len(members) * fraction)) if len(members) > 1 else 0
        for rank, i in enumerate(sorted(members[:n_val]) + sorted(members[n_val:])):
            part = val if rank < n_val else train
            part.paths.append(files.paths[i])
            part.labels.append(files.labels[i])
    return train, val


def scan_folder(root: str | Path, val_split: float | None = None, seed: int = 0) -> Scan:
    """A folder's classes and files: its train/ and val/ or test/ trees (both: validation and test apart), or else a
    seeded split of one tree with `val_split` (default 0.1) of each class held out. A `val_split` for a folder with
    its own split is refused."""
    root = Path(root).expanduser()
    val_dir = next((root / n for n in VAL_SPLIT_NAMES if (root / n).is_dir()), None)
    test_dir = root / "test" if (root / "test").is_dir() else None
    if (root / "train").is_dir() and (val_dir or test_dir):
        if val_split is not None:
            raise SettingError("val_split", f"applies to a folder without a val/ or test/ tree; {root} has its own")
        classes = training_classes(root / "train")
        for tree in (val_dir, test_dir):
            missing = sorted(set(find_classes(tree)) - set(classes)) if tree else []
            if missing:
                raise CnnlabError(f"{tree} has classes not in {root / 'train'}: {', '.join(missing)}")
        train = list_files(root / "train", classes)
        if val_dir and test_dir:
            return Scan(classes, train, list_files_present(val_dir, classes), False,
                        list_files_present(test_dir, classes))
        return Scan(classes, train, list_files_present(val_dir or test_dir, classes), True)
    classes = training_classes(root)
    train, val = split_files(list_files(root, classes), DEFAULT_VAL_SPLIT if val_split is None else val_split, seed)
    return Scan(classes, train, val, False)


def list_files_present(root: Path, classes: list[str]) -> FileList:
    """Like list_files, for an evaluation tree that may lack some classes."""
    present = [c for c in classes if (root / c).is_dir()]
    files = list_files(root, present)
    files.labels = [classes.index(present[y]) for y in files.labels]
    return files
