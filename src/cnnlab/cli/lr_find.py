"""`cnnlab lr-find`: the learning-rate range test for a model and dataset."""

import typer

from cnnlab.cli import options
from cnnlab.console import console

EPILOG = (
    "Examples:\n\n"
    "  cnnlab lr-find                                # SimpleCNN with Adam on the embedded sample\n\n"
    "  cnnlab lr-find --data ~/cifar10 --model resnet18:stem=cifar --optimizer sgd --start 1e-5 --end 1\n\n"
    "Trains a fresh model for --steps batches while the learning rate grows exponentially from --start to --end, "
    "stops when the smoothed loss exceeds 4x its minimum, and suggests the rate where the loss falls fastest."
)


@options.with_setup
def lr_find(
    start: float = typer.Option(1e-7, help="First learning rate of the sweep."),
    end: float = typer.Option(10.0, help="Last learning rate of the sweep."),
    steps: int = typer.Option(100, help="Batches in the sweep."),
    **setup: object,
) -> None:
    """Sweep the learning rate exponentially, plot the loss and suggest a rate (Smith's range test)."""
    settings = dict(setup)
    recipe = settings.pop("recipe")
    from cnnlab.train.lr_find import lr_find as run_lr_find  # torch loads only when the verb runs
    from cnnlab.train.trainer import resolve_config

    result = run_lr_find(resolve_config(recipe, **settings), start=start, end=end, steps=steps)
    console.print(f"[bold green]suggested lr:[/] {result.suggestion:.2e}  (steepest descent; "
                  f"lowest loss at {result.minimum:.2e}, a tenth of it is {result.minimum / 10:.2e})")
    console.print(f"plot: {result.path / 'lr_find.png'}")
    data = f" --data {settings['data']}" if settings["data"] else ""
    console.print(f"next: cnnlab train --lr {result.suggestion:.1e}{data}")
    print(result.path)
