"""`cnnlab train`: train a model on a dataset and write a run directory."""

from typing import Optional

import typer

from cnnlab.console import console
from cnnlab.train.config import CHOICES
from cnnlab.train.recipes import DESCRIPTIONS

EPILOG = (
    "Examples:\n\n"
    "  cnnlab train                                  # SimpleCNN on the embedded sample, ~1 minute\n\n"
    "  cnnlab train --data ~/cifar10 --recipe lesson --epochs 30\n\n"
    "  cnnlab train --data cifar10 --data-dir ~/datasets --model resnet18:stem=cifar --optimizer sgd --lr 0.1\n\n"
    "  cnnlab train --resume runs/simplecnn-sample-20261126-170000\n\n"
    "Recipes: " + "; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items())
)

def choice_help(key: str, text: str) -> str:
    """Help text that lists the allowed values of a choice."""
    return f"{text} ({'|'.join(CHOICES[key])})"

def train(
    data: Optional[str] = typer.Option(None, help="sample, cifar10, cifar100, mnist, fashion-mnist, or an image folder."),
    data_dir: Optional[str] = typer.Option(None, help="Where a named dataset's files are (or are downloaded to)."),
    download: bool = typer.Option(False, help="Download a named dataset through torchvision if it is missing."),
    val_split: Optional[float] = typer.Option(None, help="Fraction held out when a folder has no val/ or test/."),
    image_size: Optional[int] = typer.Option(None, help="Resize images to this size (folders of mixed sizes)."),
    model: Optional[str] = typer.Option(None, help="Model name with variants, e.g. simplecnn:pooling=strided."),
    recipe: Optional[str] = typer.Option(None, help="Preset settings: " + ", ".join(DESCRIPTIONS) + "."),
    epochs: Optional[int] = typer.Option(None, help="Number of epochs."),
    batch_size: Optional[int] = typer.Option(None, help="Images per batch."),
    optimizer: Optional[str] = typer.Option(None, help=choice_help("optimizer", "Optimizer")),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate."),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum."),
    nesterov: Optional[bool] = typer.Option(None, help="Nesterov momentum for SGD."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (not on norms and biases)."),
    schedule: Optional[str] = typer.Option(None, help=choice_help("schedule", "Learning-rate schedule")),
    warmup_epochs: Optional[float] = typer.Option(None, help="Linear warmup, in epochs."),
    label_smoothing: Optional[float] = typer.Option(None, help="Label smoothing of the loss."),
    grad_clip: Optional[float] = typer.Option(None, help="Clip the gradient norm to this value."),
    ema: Optional[float] = typer.Option(None, help="Keep an EMA of the weights with this decay, e.g. 0.999."),
    precision: Optional[str] = typer.Option(None, help=choice_help("precision", "Numeric precision")),
    channels_last: Optional[bool] = typer.Option(None, help="Use the channels_last memory format."),
    compile: Optional[bool] = typer.Option(None, help="torch.compile the model."),
    device: Optional[str] = typer.Option(None, help=choice_help("device", "Training device")),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    crop_padding: Optional[int] = typer.Option(None, help="Random crop with this padding (default per dataset)."),
    flip: Optional[bool] = typer.Option(None, help="Random horizontal flips (default per dataset)."),
    rotation: Optional[float] = typer.Option(None, help="Random rotation up to this many degrees."),
    jitter: Optional[float] = typer.Option(None, help="Colour jitter strength (brightness, contrast, saturation)."),
    cutout: Optional[int] = typer.Option(None, help="Cutout square side in pixels."),
    erasing: Optional[float] = typer.Option(None, help="Random erasing probability."),
    tta: Optional[bool] = typer.Option(None, help="Flip test-time augmentation at evaluation."),
    patience: Optional[int] = typer.Option(None, help="Stop after this many epochs without improvement."),
    out: Optional[str] = typer.Option(None, help="Folder that holds run directories."),
    name: Optional[str] = typer.Option(None, help="Run directory name (default: model-data-time)."),
    resume: Optional[str] = typer.Option(None, help="Continue a run directory from its last checkpoint."),
) -> None:
    """Train a CNN and write a run directory (config, metrics, checkpoints, TensorBoard events)."""
    settings = {k: v for k, v in locals().items() if k not in ("recipe", "resume")}
    from cnnlab.train.trainer import fit, resolve_config  # torch loads only when the verb runs

    result = fit(resume=resume) if resume else fit(resolve_config(recipe, **settings))
    console.print(
        f"\n[bold green]done:[/] {result.epochs} epochs in {result.seconds:.0f}s, "
        f"final val accuracy {result.final_accuracy:.2%}, best {result.best_accuracy:.2%}"
    )
    console.print(f"run: {result.run_dir}")
    console.print(f"next: cnnlab train --resume {result.run_dir}   (after an interruption)")
    print(result.run_dir)
