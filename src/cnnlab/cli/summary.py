"""`cnnlab summary`: a model's layers with output shapes, parameters, FLOPs and receptive fields."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from cnnlab.cli.parse import parse_shape

if TYPE_CHECKING:
    from cnnlab.analysis import LayerRow, Summary
    from cnnlab.analysis.dense import DenseReport

EPILOG = (
    "Examples:\n\n"
    "  cnnlab summary vgg16     # receptive fields 3, 5, 6, 10, ... 212\n\n"
    "  cnnlab summary resnet50 --input 3x224x224 --json\n\n"
    "  cnnlab summary simplecnn --input 3x64x64 --num-classes 100\n\n"
    "  cnnlab summary vgg16 --dense-equivalent   # a dense layer per conv: 150,528 inputs at 224x224x3\n\n"
    "  cnnlab summary runs/resnet18-flowers     # a trained run: which stages are frozen, which train"
)


def _shape(dims: tuple[int, ...] | None) -> str:
    """Dimensions as `64x56x56`."""
    return "-" if dims is None else "x".join(map(str, dims))


def _si(value: float, unit: str = "") -> str:
    """A count with a K/M/G/T suffix, e.g. 3.63G."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.2f}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def _bytes(count: int) -> str:
    """A byte count in KiB/MiB/GiB."""
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _axes(values: tuple[int, ...] | str | None) -> str:
    """One value for square fields and strides, HxW when the axes differ, or the word for a non-local field."""
    if values is None:
        return "-"
    if isinstance(values, str):
        return "?" if values == "unknown" else values
    return str(values[0]) if len(set(values)) == 1 else _shape(values)


def _row(row: LayerRow) -> tuple[str, ...]:
    """One table row."""
    return (
        row.name,
        row.type,
        _shape(row.output_shape),
        _params(row),
        _si(row.flops) if row.flops else "",
        _axes(row.receptive_field),
        _axes(row.stride),
    )


def _params(row: LayerRow) -> str:
    """A layer's parameter count, marked when some or all of them are frozen."""
    if not row.params:
        return ""
    if row.trainable == row.params:
        return f"{row.params:,}"
    return f"{row.params:,} {'frozen' if row.trainable == 0 else 'part-frozen'}"


def render_stages(stages: list[dict]) -> Table:
    """A run's stages with their parameters and how many train."""
    table = Table(box=box.SIMPLE_HEAD, title="Stages (what training left frozen)", pad_edge=False)
    for header in ("Stage", "Params", "Trainable", "State"):
        table.add_column(header, justify="left" if header in ("Stage", "State") else "right", no_wrap=True)
    for stage in stages:
        state = "trains" if stage["trainable"] == stage["params"] else "frozen" if not stage["trainable"] else "part"
        table.add_row(stage["stage"], f"{stage['params']:,}", f"{stage['trainable']:,}", state)
    return table


def render(summary: Summary) -> Group:
    """The layer table and a totals panel."""
    table = Table(box=box.SIMPLE_HEAD, title=f"{summary.model} on {_shape(summary.input_shape)}", pad_edge=False)
    for header in ("Layer", "Type", "Output", "Params", "FLOPs", "RF", "Stride"):
        right = header not in ("Layer", "Type")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in summary.layers:
        table.add_row(*_row(row))
    totals = summary.totals
    grid = Table.grid(padding=(0, 2))
    grid.add_row("Params", f"{totals.params:,} ({totals.trainable_params:,} trainable)")
    grid.add_row("FLOPs", f"{_si(totals.flops)} ({totals.flops:,}; 2 x multiply-accumulates, one image)")
    grid.add_row("Activations", f"{_bytes(totals.activation_bytes)} (sum of layer outputs, one image)")
    grid.add_row("Input", f"{_bytes(totals.input_bytes)} ({_shape(summary.input_shape)})")
    parts = [table, Panel(grid, title="Totals", expand=False)]
    return Group(*parts, *([render_stages(summary.stages)] if summary.stages is not None else []))


def render_dense(report: DenseReport) -> Group:
    """The course's example on the model's input, then per conv layer its weights against a same-size dense layer."""
    shape = _shape(report.input_shape)
    intro = (
        f"Input {shape} = {report.inputs:,} values. A dense layer of 1,000 units on it needs "
        f"{report.course_dense_weights:,} weights (+1,000 biases); one filter of the first conv needs "
        f"{report.filter_weights:,} (+1 bias), shared across every position."
    )
    table = Table(box=box.SIMPLE_HEAD, title=f"{report.model}: conv layers against dense layers of the same sizes",
                  pad_edge=False)
    for header in ("Layer", "Input", "Output", "Conv weights", "Dense weights", "Dense / conv"):
        table.add_column(header, justify="left" if header == "Layer" else "right", no_wrap=True)
    for row in report.rows:
        table.add_row(row.name, _shape(row.input_shape), _shape(row.output_shape), f"{row.conv_weights:,}",
                      f"{row.dense_weights:,}", f"{row.ratio:,.0f}x")
    totals = report.to_dict()["totals"]
    table.add_row("total", "", "", f"{totals['conv_weights']:,}", f"{totals['dense_weights']:,}",
                  f"{totals['dense_weights'] / max(1, totals['conv_weights']):,.0f}x", style="bold")
    return Group(intro, table)


def summary(
    model: str = typer.Argument(..., help="Model name or spec (resnet50, simplecnn:se=true), or a run directory."),
    input: Optional[str] = typer.Option(None, "--input", help="Input CxHxW, e.g. 3x224x224 (default: the model's)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", min=1, help="Classes of the head."),
    dense_equivalent: bool = typer.Option(
        False, "--dense-equivalent", help="Per conv layer, the weights a dense layer of the same sizes would need."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Per-layer output shape, parameters, FLOPs, receptive field and stride of a model, with totals."""
    from cnnlab.analysis import summarize_model, summarize_run  # torch loads only when the verb runs

    if dense_equivalent:
        from cnnlab.analysis.dense import dense_report

        report = dense_report(model, parse_shape(input) if input else None)
        if as_json:
            typer.echo(json.dumps(report.to_dict()))
            return
        Console(width=None if sys.stdout.isatty() else 120).print(render_dense(report))
        return
    if Path(model).exists():
        result = summarize_run(model)
    else:
        result = summarize_model(model, parse_shape(input) if input else None, num_classes)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    Console(width=None if sys.stdout.isatty() else 120).print(render(result))
