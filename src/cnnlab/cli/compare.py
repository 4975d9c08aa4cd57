"""`cnnlab compare`: train several models with the same budget and seeds; a table and a trade-off plot."""

import json
from typing import Optional

import typer

from cnnlab.cli import options
from cnnlab.console import console
from cnnlab.errors import CnnlabError

EPILOG = (
    "Examples:\n\n"
    "  cnnlab compare --models simplecnn,simplecnn:pooling=strided,lenet5 --epochs 3 --seeds 2\n\n"
    "  cnnlab compare --models simplecnn,simplecnn:kernel_size=5,simplecnn:se=true,resnet18 --data ~/cifar10 "
    "--epochs 10 --seeds 3\n\n"
    "Run the same command again after an interruption: finished runs are skipped, the interrupted one resumes."
)


@options.with_setup
def compare(
    models: str = typer.Option(..., help="Comma-separated model specs, e.g. simplecnn,simplecnn:se=true,lenet5."),
    seeds: int = typer.Option(3, help="Seeds per model (from --seed on)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs per run."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate."),
    schedule: Optional[str] = typer.Option(None, help=options.choice_help("schedule", "Learning-rate schedule")),
    name: Optional[str] = typer.Option(None, help="Sweep folder name under --out (default: compare-<plan hash>)."),
    json_output: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    **setup: object,
) -> None:
    """Train each model for each seed on the same data and schedule; write compare.md/.csv/.json/.png."""
    if setup.pop("model") is not None:
        raise CnnlabError("compare takes --models (several specs), not --model")
    from cnnlab.experiments import compare as run_sweep  # torch loads only when the verb runs
    from cnnlab.experiments import split_models

    seed, out = setup.pop("seed") or 0, setup.pop("out") or "runs"
    folder, files = run_sweep(split_models(models), seeds, seed, out, name, epochs=epochs, lr=lr, schedule=schedule,
                              **setup)
    if json_output:
        print(json.dumps(json.loads(files["json"].read_text())["table"], indent=2))
        return
    console.print(files["md"].read_text())
    for path in files.values():
        print(path)
