"""`cnnlab ops conv|pool|act`: the course's worked examples computed from scratch, with the working shown."""

import json
from enum import Enum

import numpy as np
import typer

from cnnlab.cli import parse
from cnnlab.cli.parse import parse_matrix, parse_pair
from cnnlab.cli.shape import parse_padding
from cnnlab.errors import CnnlabError
from cnnlab.ops.activations import activate
from cnnlab.ops.conv import METHODS, conv2d
from cnnlab.ops.explain import explain_conv, explain_pool, format_matrix
from cnnlab.ops.pool import avg_pool2d, max_pool2d

EXAMPLE_INPUT = "[[1,2,3,0,1],[0,1,2,1,0],[1,0,1,2,1],[2,1,0,1,2],[0,2,1,0,1]]"
CONV_EPILOG = f"Example: cnnlab ops conv --input '{EXAMPLE_INPUT}' --kernel '[[1,0,1],[0,1,0],[1,0,1]]' --explain 0,0"
POOL_EPILOG = "Example: cnnlab ops pool --input '[[1,3,2,1],[0,1,4,2],[5,1,2,3],[3,0,4,1]]' --kernel 2 --mode avg"
ACT_EPILOG = "Example: cnnlab ops act --input '[[-2,-0.5,0],[0.5,1,2]]' --fn gelu"

app = typer.Typer(
    help="The course's math from scratch in NumPy: convolution, pooling, activations.",
    epilog=CONV_EPILOG,
    no_args_is_help=True,
)


class Method(str, Enum):
    """Which convolution algorithm to run (all: each of them)."""

    direct = "direct"
    im2col = "im2col"
    fft = "fft"
    all = "all"


class PoolMode(str, Enum):
    """Which pooling to run."""

    max = "max"
    avg = "avg"


class Activation(str, Enum):
    """Which activation function to apply."""

    relu = "relu"
    leaky_relu = "leaky_relu"
    gelu = "gelu"
    gelu_tanh = "gelu_tanh"


def _matrix(text: str, name: str) -> np.ndarray:
    """Parse a --input/--kernel matrix and insist it is 2-D."""
    matrix = parse_matrix(text, name)
    if matrix.ndim != 2:
        raise CnnlabError(f"{name} must be a 2-D matrix like [[1,2],[3,4]], got {matrix.ndim} dimensions")
    return matrix


def _show(results: dict[str, np.ndarray], explanation: str | None, as_json: bool) -> None:
    """Print labelled result matrices (and the working at one position), as text or JSON."""
    if as_json:
        payload: dict = {"outputs": {label: value.tolist() for label, value in results.items()}}
        if explanation is not None:
            payload["explain"] = explanation
        typer.echo(json.dumps(payload))
        return
    width = max(len(label) for label in results)
    for label, value in results.items():
        text = format_matrix(value)
        typer.echo(f"{label:<{width}}  {text}" if "\n" not in text else f"{label}\n{text}")
    if explanation is not None:
        typer.echo(explanation)


@app.command(epilog=CONV_EPILOG)
def conv(
    input: str = typer.Option(..., "--input", help="Input matrix as nested lists, e.g. [[1,2],[3,4]]."),
    kernel: str = typer.Option(..., "--kernel", help="Kernel matrix as nested lists."),
    stride: str = parse.STRIDE,
    padding: str = parse.PADDING,
    dilation: str = parse.DILATION,
    method: Method = typer.Option(Method.all, "--method", help="Algorithm; 'all' runs and labels each."),
    explain: str | None = typer.Option(None, "--explain", metavar="ROW,COL", help="Show the products summed there."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Convolve (cross-correlate, as CNNs do) a matrix with a kernel by direct loops, im2col+GEMM and FFT."""
    x, w = _matrix(input, "--input"), _matrix(kernel, "--kernel")
    geometry = {
        "stride": parse_pair(stride, "--stride"),
        "padding": parse_padding(padding),
        "dilation": parse_pair(dilation, "--dilation"),
    }
    names = list(METHODS) if method is Method.all else [method.value]
    results = {name: conv2d(x, w, method=name, **geometry) for name in names}
    working = None if explain is None else explain_conv(x, w, parse_pair(explain, "--explain"), **geometry)
    _show(results, working, as_json)


@app.command(epilog=POOL_EPILOG)
def pool(
    input: str = typer.Option(..., "--input", help="Input matrix as nested lists, e.g. [[1,2],[3,4]]."),
    kernel: str = typer.Option(..., "--kernel", help="Window size K or KH,KW."),
    stride: str | None = typer.Option(None, "--stride", help="Stride S or SH,SW (default: the kernel size)."),
    padding: str = typer.Option("0", "--padding", help="Padding P or PH,PW (at most half the kernel)."),
    mode: PoolMode = typer.Option(PoolMode.max, "--mode", help="Max or average pooling."),
    explain: str | None = typer.Option(None, "--explain", metavar="ROW,COL", help="Show the window pooled there."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Max- or average-pool a matrix (average counts padded zeros, as torch does by default)."""
    x = _matrix(input, "--input")
    window = {
        "kernel": parse_pair(kernel, "--kernel"),
        "stride": None if stride is None else parse_pair(stride, "--stride"),
        "padding": parse_pair(padding, "--padding"),
    }
    pooled = (max_pool2d if mode is PoolMode.max else avg_pool2d)(x, **window)
    working = None
    if explain is not None:
        working = explain_pool(x, position=parse_pair(explain, "--explain"), mode=mode.value, **window)
    _show({f"{mode.value}-pool": pooled}, working, as_json)


@app.command(epilog=ACT_EPILOG)
def act(
    input: str = typer.Option(..., "--input", help="Values as (nested) lists, e.g. [[-1,2],[0.5,-3]]."),
    fn: Activation = typer.Option(..., "--fn", help="The activation function."),
    slope: float = typer.Option(0.01, "--slope", help="Negative slope of leaky_relu."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Apply ReLU, Leaky ReLU or GELU (exact or tanh) elementwise."""
    _show({fn.value: activate(parse_matrix(input, "--input"), fn.value, slope)}, None, as_json)
