"""`cnnlab lr-find`: the learning-rate range test for a model and dataset."""

import typer

from cnnlab.cli.console import console
from cnnlab.cli.settings import with_settings

EPILOG = (
    "Examples:\n\n"
    "  cnnlab lr-find                                # SimpleCNN with Adam on the embedded sample\n\n"
    "  cnnlab lr-find --data ~/cifar10 --model resnet18:stem=cifar --optimizer sgd --start 1e-5 --end 1\n\n"
    "Trains a fresh model for --steps batches while the learning rate grows exponentially from --start to --end, "
    "stops when the smoothed loss exceeds 4x its minimum, and suggests the rate where the loss falls fastest."
)
# the range test sets the rate and its schedule itself, trains no epochs and keeps nothing
NOT_USED = ("lr", "epochs", "max_steps", "schedule", "warmup_epochs", "step_size", "gamma", "ema", "tta", "patience",
            "name", "devices", "sync_bn", "dist_timeout", "progressive_size", "progressive_epochs")


@with_settings(exclude=NOT_USED)
def lr_find(
    start: float = typer.Option(1e-7, help="First learning rate of the sweep."),
    end: float = typer.Option(10.0, help="Last learning rate of the sweep."),
    steps: int = typer.Option(100, help="Batches in the sweep."),
    **given: object,
) -> None:
    """Sweep the learning rate exponentially, plot the loss and suggest a rate (Smith's range test)."""
    from cnnlab.settings import resolve
    from cnnlab.train.lr_find import find_lr  # torch loads only when the verb runs

    result = find_lr(resolve(**given), start=start, end=end, steps=steps)
    console.print(f"[bold green]suggested lr:[/] {result.suggestion:.2e}  (steepest descent; "
                  f"lowest loss at {result.minimum:.2e}, a tenth of it is {result.minimum / 10:.2e})")
    console.print(f"plot: {result.path / 'lr_find.png'}")
    data = f" --data {given['data']}" if given["data"] else ""
    console.print(f"next: cnnlab train --lr {result.suggestion:.1e}{data}")
    print(result.path)
