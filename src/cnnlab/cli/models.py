"""`cnnlab models`: the model zoo as a table (or JSON), with parameter counts and papers."""

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from cnnlab.models import ModelInfo

EPILOG = (
    "Examples: cnnlab models  |  cnnlab models --family resnet --json  |  in Python: "
    "cnnlab.create_model('simplecnn:pooling=strided,se=true', num_classes=10)"
)
COLUMNS = (
    ("name", "left"),
    ("family", "left"),
    ("params", "right"),
    ("input", "left"),
    ("paper", "left"),
    ("year", "right"),
)
PAPER = 4  # the only column that gives way (with an ellipsis) on a narrow terminal
MIN_PAPER = 12  # fewer characters of a title than this say nothing: the column is left out
TIMM_NOTE = "plus timm/<name> for any timm model (pip install 'cnnlab[timm]')"


def models(
    json_output: bool = typer.Option(False, "--json", help="Print a plain JSON list instead of a table."),
    family: str | None = typer.Option(
        None, "--family", help="Only this family (the table's family column; an unknown one lists them all)."),
) -> None:
    """List the model zoo: name, family, parameters (default classes and channels), default input, paper and year.

    Any timm model is also available as timm/<name> when timm is installed (the `timm` extra of cnnlab).
    """
    from cnnlab.models import list_models

    infos = list_models(family)
    if json_output:
        print(json.dumps([info.as_dict() for info in infos], indent=2))
        return
    console = Console()
    console.print(zoo_table(infos, console.width))


def table_row(info: "ModelInfo") -> tuple[str, ...]:
    """One model's cells: name, family, params with thousands separators, CxHxW input, paper, year."""
    shape = "x".join(map(str, info.default_input))
    return info.name, info.family, f"{info.params:,}", shape, info.paper, str(info.year or "-")


def zoo_table(infos: list["ModelInfo"], width: int) -> Table:
    """A Rich table of the models that fits `width` columns by shortening only the paper titles, or leaving them out
    when fewer than MIN_PAPER characters of them would fit."""
    rows = [table_row(info) for info in infos]
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, (header, _) in enumerate(COLUMNS)]
    # Each column costs a border and two padding spaces, plus the closing border.
    room = width - (sum(widths) - widths[PAPER]) - 3 * len(COLUMNS) - 1
    shown = [i for i in range(len(COLUMNS)) if i != PAPER or room >= MIN_PAPER]
    widths[PAPER] = min(widths[PAPER], room)
    table = Table(title="cnnlab model zoo", caption=escape(TIMM_NOTE))
    for i in shown:
        header, justify = COLUMNS[i]
        table.add_column(header, justify=justify, no_wrap=True, overflow="ellipsis", width=widths[i])
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table
