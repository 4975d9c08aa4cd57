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
    from cnnlab.analysis import Summary
    from cnnlab.analysis.dense import DenseReport

EPILOG = (
    "Examples:\n\n"
    "  cnnlab summary vgg16     # receptive fields 3, 5, 6, 10, ... 212\n\n"
    "  cnnlab summary resnet50 --input 3x224x224 --json\n\n"
    "  cnnlab summary simplecnn --input 3x64x64 --num-classes 100\n\n"
    "  cnnlab summary vgg16 --dense-equivalent   # a dense layer per conv: 150,528 inputs at 224x224x3\n\n"
    "  cnnlab summary runs/resnet18-flowers     # a trained run: which stages are frozen, which train"
)


def render_stages(stages: list[dict]) -> Table:
    """A run's stages with their parameters and how many train."""
    from cnnlab.analysis.layout import stage_state

    table = Table(box=box.SIMPLE_HEAD, title="Stages (what training left frozen)", pad_edge=False)
    for header in ("Stage", "Params", "Trainable", "State"):
        table.add_column(header, justify="left" if header in ("Stage", "State") else "right", no_wrap=True)
    for stage in stages:
        table.add_row(stage["stage"], f"{stage['params']:,}", f"{stage['trainable']:,}", stage_state(stage))
    return table


def render(summary: Summary) -> Group:
    """The layer table and a totals panel."""
    from cnnlab.analysis.layout import COLUMNS, row_cells, shape_text, totals_lines

    table = Table(box=box.SIMPLE_HEAD, title=f"{summary.model} on {shape_text(summary.input_shape)}", pad_edge=False)
    for header in COLUMNS:
        right = header not in ("Layer", "Type")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in summary.layers:
        table.add_row(*row_cells(row))
    grid = Table.grid(padding=(0, 2))
    for name, value in totals_lines(summary):
        grid.add_row(name, value)
    parts = [table, Panel(grid, title="Totals", expand=False)]
    return Group(*parts, *([render_stages(summary.stages)] if summary.stages is not None else []))


def render_dense(report: DenseReport) -> Group:
    """The course's example on the model's input, then per conv layer its weights against a same-size dense layer."""
    from cnnlab.analysis.layout import shape_text

    shape = shape_text(report.input_shape)
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
        table.add_row(row.name, shape_text(row.input_shape), shape_text(row.output_shape), f"{row.conv_weights:,}",
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
