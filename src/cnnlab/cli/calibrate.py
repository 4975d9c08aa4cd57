"""`cnnlab calibrate RUN`: fit a temperature on the run's validation images and keep it in its model record."""

import json

import typer
from rich.table import Table

from cnnlab.cli.console import console
from cnnlab.settings.sections import READERS

EPILOG = (
    "Examples:\n\n  cnnlab train --data ~/cifar10 --holdout 0.1 --name net   # keeps validation images apart\n\n"
    "  cnnlab calibrate runs/net\n\n  cnnlab evaluate runs/net            # the test split, calibrated\n\n"
    "The temperature is fitted on the validation split (held out of the training images), never on the test split; "
    "predict, serve, export and evaluate use it from then on."
)


def calibrate(
    run: str = typer.Argument(..., help="Run directory."),
    workers: int = typer.Option(READERS, min=0, help="Processes that read images when the data streams from disk."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Temperature scaling: fit T on the validation split, store it in the run; ECE, NLL, Brier before and after."""
    from cnnlab.evaluation.temperature import calibrate_run  # torch loads only when the verb runs

    result = calibrate_run(run, workers=workers)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"{result['data']}: temperature {result['temperature']:.4f}, fitted on the validation split")
    for column in ("split", "images", "ECE before", "ECE after", "NLL before", "NLL after", "Brier before",
                   "Brier after"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, m in result["splits"].items():
        before, after = m["before"], m["after"]
        table.add_row(name, str(m["images"]), f"{before['ece']:.2%}", f"{after['ece']:.2%}", f"{before['nll']:.4f}",
                      f"{after['nll']:.4f}", f"{before['brier']:.4f}", f"{after['brier']:.4f}")
    console.print(table)
    console.print(f"stored in: {', '.join(result['files'])}")
