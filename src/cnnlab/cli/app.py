"""The `cnnlab` Typer application: registers every verb and turns user errors into one line."""

import sys

import typer
from rich.console import Console

from cnnlab import __version__
from cnnlab.errors import CnnlabError

app = typer.Typer(
    name="cnnlab",
    help="Convolutional neural networks on images: the math, the models, training and insight.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    """Print the version and exit."""
    if value:
        print(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Convolutional neural networks on images: the math, the models, training and insight."""


def main() -> None:
    """Run the CLI; a CnnlabError becomes `error: <message>` on stderr and exit code 2."""
    try:
        app()
    except CnnlabError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False)
        sys.exit(2)
