"""`cnnlab compare`: train several models with the same budget and seeds; a table and a trade-off plot."""

import json
from typing import Optional

import typer

from cnnlab.cli.console import console
from cnnlab.cli.settings import with_settings

EPILOG = (
    "Examples:\n\n"
    "  cnnlab compare --models simplecnn,simplecnn:pooling=strided,lenet5 --epochs 3 --seeds 2\n\n"
    "  cnnlab compare --models simplecnn,simplecnn:kernel_size=5,simplecnn:se=true,resnet18 --data ~/cifar10 "
    "--epochs 10 --seeds 3\n\n"
    "Run the same command again after an interruption: finished runs are skipped, the interrupted one resumes."
)


@with_settings(exclude=("model", "devices"))
def compare(
    models: str = typer.Option(..., help="Comma-separated model specs, e.g. simplecnn,simplecnn:se=true,lenet5."),
    seeds: int = typer.Option(3, help="Seeds per model (from --seed on)."),
    name: Optional[str] = typer.Option(None, help="Sweep folder name under --out (default: compare-<plan hash>)."),
    json_output: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    **given: object,
) -> None:
    """Train each model for each seed on the same data and schedule; write compare.md/.csv/.json/.png."""
    from cnnlab.train.sweep import run_sweep, split_models  # torch loads only when the verb runs

    seed, out = given.pop("seed") or 0, given.pop("out") or "runs"
    folder, files = run_sweep(split_models(models), seeds, seed, out, name, **given)
    if json_output:
        print(json.dumps(json.loads(files["json"].read_text())["table"], indent=2))
        return
    console.print(files["md"].read_text())
    for path in files.values():
        print(path)
