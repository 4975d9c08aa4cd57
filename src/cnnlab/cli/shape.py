"""`cnnlab shape`: the output shape of a convolution or pooling layer, with the formula worked out."""

import json

import typer

from cnnlab.cli import parse
from cnnlab.cli.parse import parse_pair, parse_shape
from cnnlab.ops.explain import layer_shape

EPILOG = "Example: cnnlab shape --input 3x224x224 --kernel 7 --stride 2 --padding 3 --out 64"


def parse_padding(text: str) -> tuple[int, int] | str:
    """Padding text: 'same', 'valid', an int `1` or a pair `1,2`."""
    word = text.strip().lower()
    return word if word in ("same", "valid") else parse_pair(text, "--padding")


def shape(
    input: str = typer.Option(..., "--input", help="Input shape HxW, CxHxW or NxCxHxW, e.g. 3x224x224."),
    kernel: str = typer.Option(..., "--kernel", help="Kernel size K or KH,KW."),
    stride: str = parse.STRIDE,
    padding: str = parse.PADDING,
    dilation: str = parse.DILATION,
    out: int | None = typer.Option(None, "--out", min=1, help="Output channels (default: keep the input's)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Output shape of a conv (or pooling) layer: H_out = floor((H + 2P - D(K-1) - 1) / S) + 1."""
    dims = parse_shape(input)
    working = layer_shape(
        dims,
        parse_pair(kernel, "--kernel"),
        parse_pair(stride, "--stride"),
        parse_padding(padding),
        parse_pair(dilation, "--dilation"),
        out,
    )
    if as_json:
        typer.echo(json.dumps({"input": list(dims), "output": list(working.output), "formulas": working.formulas}))
        return
    typer.echo("x".join(map(str, working.output)))
    for axis, formula in working.formulas.items():
        typer.echo(f"{axis}_out = {formula}")
