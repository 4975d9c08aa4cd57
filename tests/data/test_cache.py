"""The decode cache: a second load reads it, and a file's content is part of its key."""

import pytest

from cnnlab.data import cache
from cnnlab.data.sources import load_dataset


def test_second_load_comes_from_the_cache(colour_folder, monkeypatch):
    load_dataset(str(colour_folder))
    monkeypatch.setattr(cache, "decode_files", lambda *a, **k: pytest.fail("decoded again despite the cache"))
    assert len(load_dataset(str(colour_folder)).train) == 120


def test_changed_file_content_changes_the_cache_key(colour_folder):
    files = sorted((colour_folder / "train" / "red").glob("*.png"))
    before = cache.content_key(files, [0] * len(files), 3, None)
    files[0].write_bytes((colour_folder / "train" / "blue" / "000.png").read_bytes())
    assert cache.content_key(files, [0] * len(files), 3, None) != before
