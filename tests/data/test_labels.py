"""Labels from a CSV file: columns found by name or chosen, paths relative to the folder, an optional split column,
every row that cannot be used named with its row number, and several labels per cell (multi-label)."""

import csv
import shutil

import pytest
import torch

from cnnlab.data.holdout import hold_out
from cnnlab.data.labels import LabelFile, read_labels
from cnnlab.data.sources import load_dataset
from cnnlab.errors import CnnlabError, SettingError

from conftest import write_colour_images


def flat_folder(tmp_path, per_class: int = 6):
    """One folder of images (no class sub-folders) and the rows that label them: (relative path, label, split)."""
    write_colour_images(tmp_path / "by_class", per_class=per_class, seed=1, size=16)
    images, rows = tmp_path / "images", []
    images.mkdir()
    for folder in sorted((tmp_path / "by_class").iterdir()):
        for i, file in enumerate(sorted(folder.iterdir())):
            shutil.copy(file, images / f"{folder.name}-{file.name}")
            rows.append((f"images/{folder.name}-{file.name}", folder.name, "test" if i % 3 == 0 else "train"))
    return tmp_path, rows


def write_csv(path, header, rows):
    """A CSV file with a header row."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_columns_are_found_by_name_and_the_rest_held_out_by_val_split(tmp_path):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["Image_ID", "notes", "Class"], [(p, "x", c) for p, c, _ in rows])
    data = load_dataset(str(root), labels=LabelFile(str(table)), val_split=0.2)
    assert data.classes == ["blue", "green", "red"] and (len(data.train), len(data.val)) == (15, 3)
    assert not data.own_split and data.input_shape == (3, 16, 16)


def test_a_split_column_gives_the_split_and_a_chosen_label_column_the_classes(tmp_path):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["file", "label", "colour", "part"],
                      [(p, "ignored", c, s) for p, c, s in rows])
    data = load_dataset(str(root), labels=LabelFile(str(table), label_column="colour", split_column="part"))
    assert data.own_split and (len(data.train), len(data.val)) == (12, 6) and data.classes == ["blue", "green", "red"]


def test_val_and_test_rows_stay_apart_and_holding_out_more_is_refused(tmp_path):
    root, rows = flat_folder(tmp_path)  # per class: 2 test rows, 4 train rows, of which 1 becomes val below
    parts = [(p, c, "val" if i % 6 == 1 else s) for i, (p, c, s) in enumerate(rows)]
    table = write_csv(tmp_path / "labels.csv", ["path", "label", "split"], parts)
    data = load_dataset(str(root), labels=LabelFile(str(table), split_column="split"))
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 6) and not data.own_split
    assert data.split()[0] == "test" and len(data.split("val")[1]) == 3
    assert sorted(data.test.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(SettingError, match="holdout.*nothing to hold out"):
        hold_out(data, 0.2, None, 0)


def test_every_row_that_cannot_be_used_is_named_with_its_number(tmp_path, heard):
    root, rows = flat_folder(tmp_path)
    (root / "images" / "notes.txt").write_text("not an image")
    (root / "images" / "broken.png").write_bytes(b"not a png")
    bad = [("images/missing.png", "red", "train"), ("images/notes.txt", "red", "train"), ("", "red", "train"),
           ("images/red-001.png", "", "train"), ("images/red-002.png", "red", "holdout"),
           ("images/broken.png", "red", "train"), ("images/red-003.png", "lonely", "train")]
    table = write_csv(tmp_path / "labels.csv", ["path", "label", "split"], rows + bad)
    data = load_dataset(str(root), labels=LabelFile(str(table), split_column="split"))
    reasons = dict(data.skipped)
    first = len(rows) + 2  # after the header and the good rows
    assert reasons[f"{table} row {first}"].startswith("no such file") and reasons[f"{table} row {first}"].endswith(
        "missing.png")
    assert reasons[f"{table} row {first + 1}"].endswith("is not an image file (by its extension)")
    assert reasons[f"{table} row {first + 2}"] == "an empty path"
    assert reasons[f"{table} row {first + 3}"] == "an empty label"
    assert reasons[f"{table} row {first + 4}"].startswith("split 'holdout' is none of")
    assert reasons[str(root / "images" / "broken.png")] == "not an image (text)"  # found unreadable when decoded
    assert "1 label(s) with a single image (lonely)" in heard.lines
    assert data.classes == ["blue", "green", "lonely", "red"]


@pytest.mark.parametrize("header, columns, message", [
    (["where", "what"], {}, "`path_column` is needed: no column of the labels file is called as path columns"),
    (["path", "label"], {"label_column": "kind"}, "`label_column` 'kind' is not a column of the labels file"),
    (["path", "label"], {"split_column": "part"}, "`split_column` 'part' is not a column of the labels file"),
])
def test_a_column_that_is_not_there_is_one_line_listing_the_columns(tmp_path, header, columns, message):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", header, [(p, c) for p, c, _ in rows])
    with pytest.raises(CnnlabError, match=message + ".*its columns: " + ", ".join(header)):
        read_labels(root, LabelFile(str(table), **columns), None, 0)


def test_a_labels_file_is_refused_for_a_named_dataset_and_its_columns_without_one(tmp_path):
    from cnnlab.settings import resolve

    with pytest.raises(CnnlabError, match="`labels` does not apply to cifar10"):
        load_dataset("cifar10", labels=LabelFile(str(tmp_path / "x.csv")))
    with pytest.raises(CnnlabError, match="`split_column` applies to a `labels` file, and none is given"):
        resolve(split_column="part")
    with pytest.raises(CnnlabError, match="`labels` .*missing.csv: no such file"):
        load_dataset(str(tmp_path), labels=LabelFile(str(tmp_path / "missing.csv")))


def test_a_separator_makes_the_labels_of_each_image_multi_hot(tmp_path, heard):
    root, rows = flat_folder(tmp_path)
    cells = [f"{c}| shiny " if i % 2 else f"{c}||{c}" for i, (_, c, _) in enumerate(rows)]  # blanks and repeats drop
    table = write_csv(tmp_path / "labels.csv", ["path", "tags", "part"],
                      [(p, cell, s) for (p, _, s), cell in zip(rows, cells)])
    data = load_dataset(str(root), labels=LabelFile(str(table), separator="|", split_column="part"))
    assert data.multi_label and data.classes == ["blue", "green", "red", "shiny"]
    assert data.train.labels.dtype == torch.uint8 and data.train.labels.shape == (12, 4)
    first = rows.index(next(r for r in rows if r[2] == "train"))
    expected = [0] * 4
    expected[data.classes.index(rows[first][1])] = 1
    expected[3] = first % 2
    assert data.train.labels[0].tolist() == expected
    assert data.class_counts() == [4, 4, 4, 6]


def test_a_separator_that_splits_no_cell_leaves_one_label_per_image(tmp_path, heard):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["path", "label"], [(p, c) for p, c, _ in rows])
    data = load_dataset(str(root), labels=LabelFile(str(table), separator=";"), val_split=0.2)
    assert not data.multi_label and data.train.labels.dtype == torch.int64
    assert "no label cell holds ';' between labels: one label per image" in heard.lines


def test_multi_label_on_reads_one_label_a_cell_as_multi_hot_and_empty_cells_as_none(tmp_path, heard):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["path", "label"],
                      [(p, "" if i < 3 else c) for i, (p, c, _) in enumerate(rows)])
    data = load_dataset(str(root), labels=LabelFile(str(table), multi_label=True), val_split=0.2)
    every = torch.cat([data.train.labels, data.val.labels])
    assert data.multi_label and len(every) == len(rows) and (every.sum(1) == 0).sum() == 3
    assert (every.sum(1) <= 1).all()
    assert "3 image(s) with an empty label cell: each has none of the labels" in heard.lines
    single = load_dataset(str(root), labels=LabelFile(str(table)), val_split=0.2)  # single-label: skipped, named
    assert len(single.train) + len(single.val) == len(rows) - 3
    assert sum(reason == "an empty label" for _, reason in single.skipped) == 3


def test_several_labels_in_a_file_said_to_be_single_label_are_refused_naming_the_row(tmp_path):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["path", "label"],
                      [(p, f"{c},extra" if i == 4 else c) for i, (p, c, _) in enumerate(rows)])
    with pytest.raises(SettingError, match=r"`multi_label` is off, but .*labels.csv row 6 holds several labels"):
        read_labels(root, LabelFile(str(table), separator=",", multi_label=False), None, 0)


def test_a_multi_label_file_where_no_image_has_a_label_is_refused(tmp_path):
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["path", "label"], [(p, "") for p, _, _ in rows])
    with pytest.raises(CnnlabError, match="no image has a label"):
        read_labels(root, LabelFile(str(table), multi_label=True), None, 0)


@pytest.mark.parametrize("separator, problem", [("", "must not be empty"), ("\n", "none of them a line break"),
                                                ('"', "none of them a line break or a double quote"),
                                                ("a\rb", "must be one or more characters")])
def test_a_separator_that_cannot_stand_in_a_cell_is_refused_by_name(separator, problem):
    from cnnlab.settings import resolve

    with pytest.raises(SettingError, match=f"`label_separator` .*{problem}"):
        resolve(labels="x.csv", label_separator=separator)


def test_a_space_is_a_separator_as_kaggles_tags_columns_have_it(tmp_path):
    from cnnlab.settings import resolve

    assert resolve(labels="x.csv", label_separator=" ").data.label_separator == " "
    root, rows = flat_folder(tmp_path)
    table = write_csv(tmp_path / "labels.csv", ["path", "tags"], [(p, f"{c}  shiny") for p, c, _ in rows])
    data = load_dataset(str(root), labels=LabelFile(str(table), separator=" "), val_split=0.2)
    assert data.multi_label and data.classes == ["blue", "green", "red", "shiny"]


def test_the_label_settings_need_a_labels_file():
    from cnnlab.settings import resolve

    for name, value in (("label_separator", "|"), ("multi_label", True)):
        with pytest.raises(SettingError, match=f"`{name}` applies to a `labels` file, and none is given"):
            resolve(**{name: value})
