"""Labels from a CSV file, as many datasets come (Kaggle's): one folder of images, and a table with a path column, a
label column and, optionally, a split column (train / val / test). Paths are relative to the folder. A row that
cannot be used (no such file, not an image, an empty label or path, an unknown split) is named with its row number
and skipped; a label that only one image has gets a warning.
"""

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cnnlab import events
from cnnlab.data.decode import is_image_path, shown
from cnnlab.data.folder import DEFAULT_VAL_SPLIT, FileList, Scan, split_files
from cnnlab.data.multilabel import multi_hot
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.settings import DataSettings

PATH_COLUMNS = ("path", "file", "filename", "file_name", "image", "image_path", "img", "id", "image_id")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target", "y", "tags")
SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
          "eval": "val"}


@dataclass(frozen=True)
class LabelFile:
    """A CSV of labels and which of its columns hold the paths, the labels and (if any) the split; a column left
    None is found by its name (path: path, file, filename, image, id, ...; label: label, class, category, target).
    With a `separator`, a label cell may hold several labels; `multi_label` None: multi-label when one does."""

    file: str
    path_column: str | None = None
    label_column: str | None = None
    split_column: str | None = None
    separator: str | None = None
    multi_label: bool | None = None


def column(header: list[str], given: str | None, candidates: tuple[str, ...], what: str, setting: str) -> str:
    """The column named `given`, or the first of the header's columns whose name is one of `candidates`."""
    if given is not None:
        if given not in header:
            raise SettingError(setting, f"{given!r} is not a column of the labels file; its columns: {', '.join(header)}")
        return given
    by_name = {name.strip().lower(): name for name in header}
    found = next((by_name[name] for name in candidates if name in by_name), None)
    if found is None:
        raise SettingError(setting, f"is needed: no column of the labels file is called as {what} columns usually are "
                           f"({', '.join(candidates)}); its columns: {', '.join(header)}")
    return found


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV file (UTF-8, a byte-order mark allowed), or an error naming the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except FileNotFoundError:
        raise SettingError("labels", f"{shown(path)}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SettingError("labels", f"{shown(path)}: not a readable CSV file ({err})") from None
    if not header:
        raise SettingError("labels", f"{shown(path)}: no header row (the columns' names)")
    return header, rows


def label_names(cell: str, separator: str | None) -> list[str]:
    """The labels one cell holds: the whole cell, or its pieces between separators (stripped, the empty ones and
    repeats dropped, in their order)."""
    pieces = cell.split(separator) if separator else [cell]
    return list(dict.fromkeys(piece.strip() for piece in pieces if piece.strip()))


def read_labels(root: Path, labels: LabelFile, val_split: float | None, seed: int) -> Scan:
    """A labelled folder's classes and files (as scan_folder's): the split column's train, val and test rows (val
    and test both: validation and test apart), else `val_split` of each class held out. A multi-label file's labels
    are multi-hot rows (see multilabel.py)."""
    table = Path(labels.file).expanduser()
    header, rows = read_table(table)
    path_column = column(header, labels.path_column, PATH_COLUMNS, "path", "path_column")
    label_column = column(header, labels.label_column, LABEL_COLUMNS, "label", "label_column")
    split_column = labels.split_column
    if split_column is not None and split_column not in header:
        raise SettingError("split_column", f"{split_column!r} is not a column of the labels file; its columns: "
                           f"{', '.join(header)}")
    if split_column is not None and val_split is not None:
        raise SettingError("val_split", "applies to a labels file without a `split_column`")
    kept, skipped = [], []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        place = f"{shown(table)} row {number}"
        name, names = (row.get(path_column) or "").strip(), label_names(row.get(label_column) or "", labels.separator)
        split = SPLITS.get((row.get(split_column) or "").strip().lower(), None) if split_column else "train"
        file = root / name
        reason = ("an empty path" if not name else
                  f"split {row.get(split_column)!r} is none of {', '.join(sorted(set(SPLITS)))}" if split is None else
                  f"no such file {shown(file)}" if not file.is_file() else
                  f"{shown(file)} is not an image file (by its extension)" if not is_image_path(file) else None)
        if reason is None:
            kept.append((file, names, split, place))
        else:
            skipped.append((place, reason))
    multi = is_multi_label(labels, kept, table)
    if not multi:
        skipped += [(place, "an empty label") for _, names, _, place in kept if not names]
        kept = [item for item in kept if item[1]]
    if not kept:
        raise CnnlabError(f"{shown(table)}: none of its {len(rows)} rows names an image with a label")
    counts = Counter(label for _, names, _, _ in kept for label in names)
    classes = sorted(counts)
    single = [label for label in classes if counts[label] == 1]
    if single:
        events.note(f"{shown(table)}: {len(single)} label(s) with a single image ({', '.join(single[:5])}): too few "
                    "to learn or to evaluate", warning=True)
    if not classes or (len(classes) < 2 and not multi):
        raise CnnlabError(f"{shown(table)}: " + (f"one label ({classes[0]}): a classifier needs two or more" if classes
                                                 else "no image has a label"))
    index = {label: i for i, label in enumerate(classes)}
    files = {part: FileList() for part in ("train", "val", "test")}
    for file, names, split, _ in kept:
        files[split].paths.append(file)
        files[split].labels.append(multi_hot({index[n] for n in names}, len(classes)) if multi else index[names[0]])
    files["train"].skipped.extend(skipped)
    if split_column is not None:
        if files["val"].paths and files["test"].paths:
            return Scan(classes, files["train"], files["val"], False, files["test"])
        return Scan(classes, files["train"], files["val"] if files["val"].paths else files["test"], True)
    train, val = split_files(files["train"], DEFAULT_VAL_SPLIT if val_split is None else val_split, seed)
    return Scan(classes, train, val, False)


def is_multi_label(labels: LabelFile, kept: list[tuple[Path, list[str], str, str]], table: Path) -> bool:
    """Whether the images have several labels each: as `multi_label` says, else when a cell holds several. Several in
    a cell of a file said to be single-label are refused, naming the first such row; images without a label in a
    multi-label file are announced (they have none of the labels, and train as such)."""
    several = next((place for _, names, _, place in kept if len(names) > 1), None)
    if labels.multi_label is False and several is not None:
        raise SettingError("multi_label", f"is off, but {several} holds several labels (split by `label_separator` "
                           f"{labels.separator!r}): turn it on, or choose another `label_column`")
    multi = labels.multi_label if labels.multi_label is not None else several is not None
    if labels.separator and several is None and labels.multi_label is None:
        events.note(f"{shown(table)}: no label cell holds {labels.separator!r} between labels: one label per image")
    empty = sum(1 for _, names, _, _ in kept if not names)
    if multi and empty:
        events.note(f"{shown(table)}: {empty} image(s) with an empty label cell: each has none of the labels")
    return multi


def label_file(data: DataSettings) -> LabelFile | None:
    """The labels file the settings name, with its columns; None when the folder's layout holds the labels."""
    if data.labels is None:
        return None
    return LabelFile(data.labels, data.path_column, data.label_column, data.split_column, data.label_separator,
                     data.multi_label)
