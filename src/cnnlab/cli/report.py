"""`cnnlab report RUN`: one self-contained HTML page about a trained run."""

from typing import Optional

import typer

from cnnlab.settings.sections import READERS

EPILOG = (
    "Examples:\n\n"
    "  cnnlab report runs/simplecnn-sample-20261126-170440            # writes RUN/report.html\n\n"
    "  cnnlab report runs/my-run --out my-run.html --samples 12"
)


def report(
    run: str = typer.Argument(..., help="Run directory."),
    out: Optional[str] = typer.Option(None, help="The HTML file to write (default: RUN/report.html)."),
    samples: int = typer.Option(8, min=1, max=64, help="Evaluation images shown with Grad-CAM."),
    workers: int = typer.Option(READERS, min=0, help="Processes that read images when the data streams from disk."),
) -> None:
    """Evaluate a run and write report.html: settings, model, curves, metrics, confusion, top losses, filters, Grad-CAM."""
    from cnnlab.evaluation.report import write_report  # torch loads only when the verb runs

    print(write_report(run, out, samples, workers))
