"""`cnnlab train`: train a model on a dataset and write a run directory."""

from typing import Optional

import typer

from cnnlab.cli import options
from cnnlab.console import console
from cnnlab.train.recipes import DESCRIPTIONS

EPILOG = (
    "Examples:\n\n"
    "  cnnlab train                                  # SimpleCNN on the embedded sample, ~1 minute\n\n"
    "  cnnlab train --data ~/cifar10 --recipe lesson --epochs 30\n\n"
    "  cnnlab train --data cifar10 --data-dir ~/datasets --model resnet18:stem=cifar --optimizer sgd --lr 0.1\n\n"
    "  cnnlab train --data ~/cifar10 --recipe exercise1 --policy trivialaugment --cutmix 1.0\n\n"
    "  cnnlab train --data my-photos --class-weights auto --sampler balanced\n\n"
    "  cnnlab train --resume runs/simplecnn-sample-20261126-170000\n\n"
    "  cnnlab train --data ~/cifar10 --devices 4 --sync-bn          # DDP on 4 GPUs of this machine\n\n"
    "  torchrun --nproc-per-node 4 -m cnnlab train --data ~/cifar10  # the same, started by torchrun\n\n"
    "  cnnlab train --data ~/flowers --model resnet18 --pretrained imagenet --fine-tune 2 --epochs 10\n\n"
    "  cnnlab train --data ~/target --pretrained runs/simplecnn-cifar --freeze backbone --epochs 5\n\n"
    "Recipes: " + "; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items())
)


@options.with_setup
def train(
    epochs: Optional[int] = typer.Option(None, help="Number of epochs."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate."),
    schedule: Optional[str] = typer.Option(None, help=options.choice_help("schedule", "Learning-rate schedule")),
    warmup_epochs: Optional[float] = typer.Option(None, help="Linear warmup, in epochs."),
    bias_lr_mult: Optional[float] = typer.Option(None, help="Biases and norm shifts learn at --lr x this."),
    label_smoothing: Optional[float] = typer.Option(None, help="Label smoothing of the loss."),
    grad_clip: Optional[float] = typer.Option(None, help="Clip the gradient norm to this value."),
    ema: Optional[float] = typer.Option(None, help="Keep an EMA of the weights with this decay, e.g. 0.999."),
    compile: Optional[bool] = typer.Option(None, help="torch.compile the model."),
    crop_padding: Optional[int] = typer.Option(None, help="Random crop with this padding (default per dataset)."),
    pad_mode: Optional[str] = typer.Option(
        None, help=options.choice_help("pad_mode", "What the random crop's padding holds")),
    flip: Optional[bool] = typer.Option(None, help="Random horizontal flips (default per dataset)."),
    alternate_flip: Optional[bool] = typer.Option(
        None, help="Mirror a seeded half of the images in epoch 1, then alternate each image's mirroring per epoch."),
    progressive_size: Optional[int] = typer.Option(
        None, help="Progressive resizing: the first --progressive-epochs train on images resized to this side."),
    progressive_epochs: Optional[int] = typer.Option(None, help="Epochs at --progressive-size before the full size."),
    rotation: Optional[float] = typer.Option(None, help="Random rotation up to this many degrees."),
    jitter: Optional[float] = typer.Option(None, help="Colour jitter strength (brightness, contrast, saturation)."),
    cutout: Optional[int] = typer.Option(None, help="Cutout square side in pixels."),
    erasing: Optional[float] = typer.Option(None, help="Random erasing probability."),
    policy: Optional[str] = typer.Option(
        None, help=options.choice_help("policy", "Augmentation policy (torchvision v2)")
    ),
    mixup: Optional[float] = typer.Option(None, help="MixUp with this Beta alpha, e.g. 0.2 (0: off)."),
    cutmix: Optional[float] = typer.Option(None, help="CutMix with this Beta alpha, e.g. 1.0 (0: off)."),
    class_weights: Optional[str] = typer.Option(
        None, help=options.choice_help("class_weights", "Loss weights per class: auto = inverse frequency")
    ),
    sampler: Optional[str] = typer.Option(
        None, help=options.choice_help("sampler", "Training order: balanced draws every class equally often")
    ),
    tta: Optional[str] = typer.Option(
        None, help=options.choice_help("tta", "Test-time augmentation at the last epoch (shift adds 1-pixel shifts)")),
    patience: Optional[int] = typer.Option(None, help="Stop after this many epochs without improvement."),
    pretrained: Optional[str] = typer.Option(
        None, help="Start from weights: imagenet (torchvision), a weights name, timm (timm/<name>), "
        "a .pth/.safetensors file or a cnnlab run directory."),
    freeze: Optional[str] = typer.Option(None, help="Freeze none, backbone (all but the head) or the first N stages."),
    fine_tune: Optional[int] = typer.Option(
        None, help="Train only the head for this many epochs, then unfreeze (to --freeze) at lower backbone rates."),
    lr_mult_backbone: Optional[float] = typer.Option(
        None, help="Backbone learning rate = --lr x this (default 0.1 with --fine-tune, else 1)."),
    keep_head: Optional[bool] = typer.Option(
        None, help="Keep the pretrained head (same classes) instead of a new one."),
    preprocess: Optional[str] = typer.Option(
        None, help=options.choice_help("preprocess", "Input size and mean/std from the data or the weights")),
    name: Optional[str] = typer.Option(None, help="Run directory name (default: model-data-time)."),
    resume: Optional[str] = typer.Option(None, help="Continue a run directory from its last checkpoint."),
    devices: Optional[int] = typer.Option(None, help="Train with DDP on this many processes of this machine (one per GPU)."),
    sync_bn: Optional[bool] = typer.Option(None, help="Synchronise BatchNorm statistics across processes (CUDA)."),
    dist_timeout: Optional[float] = typer.Option(None, help="Seconds a process waits for the others before the job ends."),
    report: bool = typer.Option(False, help="Write RUN/report.html at the end (as `cnnlab report RUN`)."),
    **setup: object,
) -> None:
    """Train a CNN and write a run directory (config, metrics, checkpoints, TensorBoard events)."""
    settings = {k: v for k, v in locals().items() if k not in ("setup", "resume", "devices", "report")} | setup
    recipe = settings.pop("recipe")
    from cnnlab.models.pretrained import run_model_name
    from cnnlab.train.distributed import World, launch
    from cnnlab.train.trainer import fit, resolve_config  # torch loads only when the verb runs

    if pretrained and settings["model"] is None:  # a cnnlab run names its own architecture
        settings["model"] = run_model_name(pretrained)
    config = None if resume else resolve_config(recipe, **settings)
    result = launch(devices, fit, config, resume)[0] if devices else fit(config, resume)
    if not World.from_env().is_main:
        return
    console.print(
        f"\n[bold green]done:[/] {result.epochs} epochs in {result.seconds:.0f}s, "
        f"final val accuracy {result.final_accuracy:.2%}, best {result.best_accuracy:.2%}"
    )
    console.print(f"run: {result.run_dir}")
    console.print(f"next: cnnlab train --resume {result.run_dir}   (after an interruption)")
    if report:
        from cnnlab.report import write_report

        console.print(f"report: {write_report(result.run_dir)}")
    print(result.run_dir)
