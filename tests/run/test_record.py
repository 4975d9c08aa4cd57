"""The model record's round trip through JSON, with what a multi-label model adds (its kind and thresholds), and
the records that cannot be used refused in one line."""

import json

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.run.record import ModelRecord


def record(**fields) -> ModelRecord:
    """A small record, with `fields` changed."""
    return ModelRecord(**{"architecture": "simplecnn", "classes": ("circle", "square"), "input_shape": (3, 24, 24),
                          "mean": (0.5, 0.5, 0.5), "std": (0.2, 0.2, 0.2), **fields})


def test_a_multi_label_record_comes_back_from_json_with_its_thresholds():
    original = record(multi_label=True, thresholds=(0.3, 0.71))
    back = ModelRecord.from_dict(json.loads(json.dumps(original.to_dict())))
    assert back == original and back.label_thresholds() == (0.3, 0.71)
    assert record(multi_label=True).label_thresholds() == (0.5, 0.5)


def test_a_record_written_before_multi_label_reads_as_single_label():
    values = record().to_dict()
    del values["multi_label"], values["thresholds"]
    back = ModelRecord.from_dict(values)
    assert back.multi_label is False and back.thresholds is None


@pytest.mark.parametrize("change, problem", [
    ({"multi_label": True, "thresholds": [0.5]}, "one probability per class"),
    ({"multi_label": True, "thresholds": [0.5, 1.5]}, "one probability per class"),
    ({"multi_label": True, "thresholds": [0.5, float("nan")]}, "one probability per class"),
    ({"thresholds": [0.5, 0.5]}, "for a multi-label model"),
    ({"multi_label": "yes"}, "multi_label 'yes' must be true or false"),
])
def test_a_record_whose_labels_cannot_be_used_is_refused_naming_the_file(change, problem):
    with pytest.raises(CnnlabError, match=f"config.json: not a usable model record .*{problem}"):
        ModelRecord.from_dict({**record().to_dict(), **change}, "config.json")
