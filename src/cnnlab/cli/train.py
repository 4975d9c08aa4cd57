"""`cnnlab train`: train a model on a dataset and write a run directory."""

from typing import Optional

import typer

from cnnlab.cli.console import console
from cnnlab.cli.settings import with_settings
from cnnlab.settings import RECIPES

EPILOG = (
    "Examples:\n\n"
    "  cnnlab train                                  # SimpleCNN on the embedded sample, ~1 minute\n\n"
    "  cnnlab train --data ~/cifar10 --recipe lesson --epochs 30\n\n"
    "  cnnlab train --data cifar10 --data-dir ~/datasets --model resnet18:stem=cifar --optimizer sgd --lr 0.1\n\n"
    "  cnnlab train --data ~/cifar10 --recipe exercise1 --policy trivialaugment --cutmix 1.0\n\n"
    "  cnnlab train --data my-photos --class-weights auto --sampler balanced\n\n"
    "  cnnlab train --data ~/cifar10 --recipe fast85 --max-steps 200    # a quick look at a recipe\n\n"
    "  cnnlab train --resume runs/simplecnn-sample-20261126-170000\n\n"
    "  cnnlab train --data ~/photos --folds 5 --epochs 10 --name cv   # 5 runs and a mean ± std table\n\n"
    "  cnnlab train --data ~/cifar10 --devices 4 --sync-bn          # DDP on 4 GPUs of this machine\n\n"
    "  torchrun --nproc-per-node 4 -m cnnlab train --data ~/cifar10  # the same, started by torchrun\n\n"
    "  cnnlab train --data ~/flowers --model resnet18 --pretrained imagenet --fine-tune 2 --epochs 10\n\n"
    "  cnnlab train --data ~/target --pretrained runs/simplecnn-cifar --freeze backbone --epochs 5\n\n"
    "Recipes: " + "; ".join(f"{name}: {recipe.description}" for name, recipe in RECIPES.items())
)


@with_settings()
def train(
    resume: Optional[str] = typer.Option(
        None, help="Continue a run directory from its last checkpoint (with its own settings).", rich_help_panel="Run"),
    report: bool = typer.Option(False, help="Write RUN/report.html at the end (as `cnnlab report RUN`).",
                                rich_help_panel="Run"),
    folds: Optional[int] = typer.Option(
        None, help="Cross-validate: one run per fold of a stratified K-fold of the training images, then each "
        "metric's mean ± std (run it again to resume).", rich_help_panel="Run"),
    **given: object,
) -> None:
    """Train a CNN and write a run directory (config, metrics, checkpoints, TensorBoard events)."""
    from cnnlab.train.distributed import World  # torch loads only when the verb runs
    from cnnlab.train.fit import fit

    given = {k: v for k, v in given.items() if v is not None}
    if folds is not None:
        cross_validation(folds, resume, report, given)
        return
    result = fit(resume=resume, **given) if resume else fit(**given)
    if not World.from_env().is_main:
        return
    console.print(
        f"\n[bold green]done:[/] {result.epochs} epochs in {result.seconds:.0f}s, "
        f"final val {result.metric} {result.final_accuracy:.2%}, best {result.best_accuracy:.2%}"
    )
    console.print(f"run: {result.run_dir}")
    console.print(f"next: cnnlab train --resume {result.run_dir}   (after an interruption)")
    if report:
        from cnnlab.evaluation.report import write_report

        console.print(f"report: {write_report(result.run_dir)}")
    print(result.run_dir)


def cross_validation(folds: int, resume: str | None, report: bool, given: dict) -> None:
    """`--folds K`: every fold's run, then the table (running the same command again resumes)."""
    from cnnlab.errors import SettingError
    from cnnlab.train.cross_validation import cross_validate

    for name, value in (("resume", resume), ("report", report)):
        if value:
            raise SettingError(name, "applies to one run; `folds` resumes by running the same command again")
    folder, files = cross_validate(folds, given.pop("out", "runs"), given.pop("name", None), **given)
    console.print(files["md"].read_text())
    print(folder)
