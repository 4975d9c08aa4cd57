"""`cnnlab shape`: the output shape and its formula with the numbers in, JSON, and one-line errors."""

import json

import pytest

from conftest import Cli


def test_course_stem_shape_and_formula(cli: Cli):
    code, out, _ = cli(
        "shape", "--input", "3x224x224", "--kernel", "7", "--stride", "2", "--padding", "3", "--out", "64"
    )
    assert code == 0
    assert out.splitlines() == [
        "64x112x112",
        "H_out = floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1 = 112",
        "W_out = floor((224 + 2*3 - 1*(7-1) - 1) / 2) + 1 = 112",
    ]


def test_channels_kept_without_out_and_pairs_per_axis(cli: Cli):
    code, out, _ = cli("shape", "--input", "8x3x32x30", "--kernel", "3,5", "--stride", "1,2", "--dilation", "2")
    assert code == 0
    assert out.splitlines()[0] == "8x3x28x11"
    assert out.splitlines()[2] == "W_out = floor((30 + 2*0 - 2*(5-1) - 1) / 2) + 1 = 11"


def test_same_padding_shows_the_uneven_split(cli: Cli):
    code, out, _ = cli("shape", "--input", "16x16", "--kernel", "4", "--padding", "same", "--out", "5")
    assert code == 0
    assert out.splitlines() == [
        "5x16x16",
        "H_out = floor((16 + 1 + 2 - 1*(4-1) - 1) / 1) + 1 = 16",
        "W_out = floor((16 + 1 + 2 - 1*(4-1) - 1) / 1) + 1 = 16",
    ]


def test_json(cli: Cli):
    code, out, _ = cli("shape", "--input", "3x224x224", "--kernel", "7", "--stride", "2", "--padding", "3", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["input"] == [3, 224, 224] and payload["output"] == [3, 112, 112]
    assert payload["formulas"]["H"].endswith("= 112")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--input", "3x4x4", "--kernel", "7"), "padded input is only 4"),
        (("--input", "3x4x4", "--kernel", "3", "--stride", "0"), "must be >= 1"),
        (("--input", "3xfoo", "--kernel", "3"), "malformed shape"),
        (("--input", "224", "--kernel", "3"), "HxW, CxHxW or NxCxHxW"),
        (("--input", "3x9x9", "--kernel", "3", "--padding", "full"), "malformed --padding"),
        (("--input", "3x9x9", "--kernel", "3", "--padding", "same", "--stride", "2"), "needs stride 1"),
    ],
)
def test_impossible_shapes_exit_2_with_an_error_line(cli: Cli, args: tuple[str, ...], fragment: str):
    code, out, err = cli("shape", *args)
    assert code == 2 and out == ""
    assert err.startswith("error:") and fragment in err and err.count("\n") == 1 and "Traceback" not in err

