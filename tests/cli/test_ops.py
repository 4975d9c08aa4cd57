"""`cnnlab ops conv|pool|act` as a user runs them: printed numbers, the working, JSON and exit codes."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.ops.explain import format_matrix

from conftest import Cli

X = "[[1,2,3,0,1],[0,1,2,1,0],[1,0,1,2,1],[2,1,0,1,2],[0,2,1,0,1]]"
K = "[[1,0,1],[0,1,0],[1,0,1]]"
P = "[[1,3,2,1],[0,1,4,2],[5,1,2,3],[3,0,4,1]]"
def test_conv_prints_the_course_answer_by_all_three_methods(cli: Cli):
    code, out, _ = cli("ops", "conv", "--input", X, "--kernel", K)
    assert code == 0
    assert out.splitlines() == [f"{m:<6}  [[7,6,7],[4,5,6],[4,4,5]]" for m in ("direct", "im2col", "fft")]


def test_conv_explains_the_products_at_a_position(cli: Cli):
    code, out, _ = cli("ops", "conv", "--input", X, "--kernel", K, "--method", "direct", "--explain", "0,0")
    assert code == 0
    assert out.splitlines() == [
        "direct  [[7,6,7],[4,5,6],[4,4,5]]",
        "1*1 + 2*0 + 3*1 + 0*0 + 1*1 + 2*0 + 1*1 + 0*0 + 1*1 = 7",
    ]


def test_conv_stride_padding_dilation_match_torch(cli: Cli):
    code, out, _ = cli(
        "ops",
        "conv",
        "--input",
        X,
        "--kernel",
        "[[1,-1],[2,0]]",
        "--stride",
        "2,1",
        "--padding",
        "1",
        "--dilation",
        "2",
        "--method",
        "fft",
    )
    x, w = torch.tensor(json.loads(X), dtype=torch.float64), torch.tensor([[1.0, -1], [2, 0]], dtype=torch.float64)
    expected = F.conv2d(x[None, None], w[None, None], stride=(2, 1), padding=1, dilation=2)[0, 0].numpy()
    assert code == 0 and out.split() == ["fft", format_matrix(expected)]


def test_conv_json_carries_every_method(cli: Cli):
    code, out, _ = cli("ops", "conv", "--input", X, "--kernel", K, "--padding", "same", "--json", "--explain", "1,1")
    payload = json.loads(out)
    assert code == 0 and set(payload["outputs"]) == {"direct", "im2col", "fft"}
    for value in payload["outputs"].values():
        assert np.asarray(value).shape == (5, 5)
        np.testing.assert_allclose(np.asarray(value)[1:4, 1:4], [[7, 6, 7], [4, 5, 6], [4, 4, 5]], atol=1e-9)
    assert payload["explain"].endswith("= 7")


def test_wrong_method_lists_the_allowed_ones(cli: Cli):
    code, _, err = cli("ops", "conv", "--input", X, "--kernel", K, "--method", "winograd")
    assert code == 2
    assert all(name in err for name in ("direct", "im2col", "fft", "all"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("ops", "conv", "--input", "[[1,2", "--kernel", K), "malformed --input"),
        (("ops", "conv", "--input", "[[1,2],[3]]", "--kernel", K), "malformed --input"),
        (("ops", "conv", "--input", "[1,2,3]", "--kernel", K), "2-D matrix"),
        (("ops", "conv", "--input", "[[1,2],[3,4]]", "--kernel", K), "padded input is only 2"),
        (("ops", "conv", "--input", X, "--kernel", K, "--explain", "3,0"), "outside the 3x3 output"),
        (("ops", "conv", "--input", X, "--kernel", K, "--padding", "same", "--stride", "2"), "needs stride 1"),
        (("ops", "pool", "--input", P, "--kernel", "2", "--padding", "2"), "at most half the kernel"),
        (("ops", "pool", "--input", P, "--kernel", "two"), "malformed --kernel"),
    ],
)
def test_user_mistakes_exit_2_with_an_error_line(cli: Cli, args: tuple[str, ...], fragment: str):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("error:") and fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_pool_prints_the_course_answers_and_windows(cli: Cli):
    code, out, _ = cli("ops", "pool", "--input", P, "--kernel", "2", "--explain", "1,0")
    assert code == 0 and out.splitlines() == ["max-pool  [[3,4],[5,4]]", "max(5, 1, 3, 0) = 5"]
    code, out, _ = cli(
        "ops", "pool", "--input", P, "--kernel", "2", "--stride", "2", "--mode", "avg", "--explain", "0,1"
    )
    assert code == 0 and out.splitlines() == ["avg-pool  [[1.25,2.25],[2.25,2.5]]", "(2 + 1 + 4 + 2) / 4 = 2.25"]


def test_pool_with_padding_matches_torch(cli: Cli):
    code, out, _ = cli(
        "ops", "pool", "--input", P, "--kernel", "3", "--stride", "1", "--padding", "1", "--mode", "avg", "--json"
    )
    expected = F.avg_pool2d(torch.tensor(json.loads(P), dtype=torch.float64)[None], 3, 1, 1)[0].numpy()
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["outputs"]["avg-pool"], expected, rtol=1e-12)


@pytest.mark.parametrize("fn", ["relu", "leaky_relu", "gelu", "gelu_tanh"])
def test_act_matches_torch(cli: Cli, fn: str):
    values = [[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]]
    code, out, _ = cli("ops", "act", "--input", json.dumps(values), "--fn", fn, "--json")
    t = torch.tensor(values, dtype=torch.float64)
    expected = {
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "gelu": F.gelu,
        "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
    }[fn](t)
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["outputs"][fn], expected.numpy(), rtol=1e-10, atol=1e-10)


def test_act_text_and_unknown_function(cli: Cli):
    assert cli("ops", "act", "--input", "[[-1,2]]", "--fn", "relu")[:2] == (0, "relu  [[0,2]]\n")
    code, _, err = cli("ops", "act", "--input", "[[-1,2]]", "--fn", "swish")
    assert code == 2 and "gelu_tanh" in err


def test_help_shows_an_example(cli: Cli):
    for verb in ("conv", "pool", "act"):
        code, out, _ = cli("ops", verb, "--help")
        assert code == 0 and f"cnnlab ops {verb} --input" in " ".join(out.split())


def test_real_command_line_end_to_end():
    command = [sys.executable, "-m", "cnnlab", "ops", "conv", "--input", X, "--kernel", K]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.count("[[7,6,7],[4,5,6],[4,4,5]]") == 3
