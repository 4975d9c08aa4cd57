"""dense_report (what `cnnlab summary --dense-equivalent` shows): per conv layer, the weights of a dense layer
of the same input/output sizes."""

import pytest

from cnnlab.analysis.dense import dense_report
from cnnlab.errors import CnnlabError


def test_the_course_example_on_a_224x224x3_image():
    report = dense_report("vgg16").to_dict()
    assert report["inputs"] == 150_528
    assert report["course_example"]["dense_weights"] == 150_528_000 and report["course_example"]["dense_biases"] == 1000
    assert report["course_example"]["first_filter_weights"] == 27


def test_rows_follow_the_real_input_and_output_of_each_conv():
    rows = dense_report("simplecnn").rows
    assert [r.name for r in rows] == ["features.0.0.conv", "features.1.0.conv", "features.2.0.conv"]
    first = rows[0]
    assert first.input_shape == (3, 32, 32) and first.output_shape == (32, 32, 32)
    assert first.conv_weights == 3 * 3 * 3 * 32 and first.conv_biases == 32
    assert first.dense_weights == 3072 * 32768 and first.dense_biases == 32768
    assert rows[1].input_shape == (32, 16, 16)  # after the max-pool, not the conv's own output
    assert first.ratio == pytest.approx(3072 * 32768 / 864)


def test_residual_shortcuts_are_counted_on_their_own_input():
    rows = {r.name: r for r in dense_report("resnet18", (3, 64, 64)).rows}
    shortcut = rows["layer2.0.downsample.0"]
    assert shortcut.input_shape == (64, 16, 16) and shortcut.output_shape == (128, 8, 8)
    assert shortcut.conv_weights == 64 * 128 and shortcut.dense_weights == 64 * 16 * 16 * 128 * 8 * 8


def test_a_model_that_does_not_fit_the_input_is_a_one_line_error():
    with pytest.raises(CnnlabError, match="does not fit"):
        dense_report("lenet5", (1, 4, 4))
