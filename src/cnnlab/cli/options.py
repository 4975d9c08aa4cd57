"""Command-line options shared by the verbs that build a training setup (train, lr-find)."""

import inspect
from collections.abc import Callable
from typing import Optional

import typer

from cnnlab.train.config import CHOICES
from cnnlab.train.recipes import DESCRIPTIONS


def choice_help(key: str, text: str) -> str:
    """Help text that lists the allowed values of a choice."""
    return f"{text} ({'|'.join(CHOICES[key])})"


def setup(
    data: Optional[str] = typer.Option(None, help="sample, cifar10, cifar100, mnist, fashion-mnist, or an image folder."),
    data_dir: Optional[str] = typer.Option(None, help="Where a named dataset's files are (or are downloaded to)."),
    download: Optional[bool] = typer.Option(None, help="Download a named dataset through torchvision if it is missing."),
    val_split: Optional[float] = typer.Option(None, help="Fraction held out when a folder has no val/ or test/."),
    image_size: Optional[int] = typer.Option(None, help="Resize images to this size (folders of mixed sizes)."),
    stream: Optional[bool] = typer.Option(None, help="Read images from disk every epoch (default: only when too large for memory)."),
    workers: Optional[int] = typer.Option(None, help="Processes that read images when streaming from disk."),
    model: Optional[str] = typer.Option(None, help="Model name with variants, e.g. simplecnn:pooling=strided."),
    recipe: Optional[str] = typer.Option(None, help="Preset settings: " + ", ".join(DESCRIPTIONS) + "."),
    batch_size: Optional[int] = typer.Option(None, help="Images per batch."),
    optimizer: Optional[str] = typer.Option(None, help=choice_help("optimizer", "Optimizer")),
    momentum: Optional[float] = typer.Option(None, help="SGD momentum."),
    nesterov: Optional[bool] = typer.Option(None, help="Nesterov momentum for SGD."),
    muon_lr: Optional[float] = typer.Option(None, help="--optimizer muon: learning rate of the conv filters."),
    muon_momentum: Optional[float] = typer.Option(None, help="--optimizer muon: momentum of the conv filters."),
    muon_normalize: Optional[bool] = typer.Option(
        None, help="--optimizer muon: keep each filter bank's norm fixed (√ of its output channels)."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay (not on norms and biases)."),
    precision: Optional[str] = typer.Option(None, help=choice_help("precision", "Numeric precision")),
    channels_last: Optional[bool] = typer.Option(None, help="Use the channels_last memory format."),
    device: Optional[str] = typer.Option(None, help=choice_help("device", "Training device")),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    out: Optional[str] = typer.Option(None, help="Folder that holds run directories."),
) -> None:
    """The options of a training setup: data, model, optimizer, precision, device, seed, output folder."""


def with_setup(verb: Callable[..., None]) -> Callable[..., None]:
    """Give a verb that takes `**setup` the setup options too: Typer reads the merged signature."""
    own = [p for p in inspect.signature(verb).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    verb.__signature__ = inspect.Signature([*inspect.signature(setup).parameters.values(), *own])
    return verb
