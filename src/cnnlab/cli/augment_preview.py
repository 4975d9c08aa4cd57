"""`cnnlab augment preview`: the course's augmentations and the training policies side by side in one PNG."""

from typing import Optional

import typer

app = typer.Typer(help="Data augmentation, shown as pictures.", no_args_is_help=True)

PREVIEW_EPILOG = (
    "Examples:\n\n"
    "  cnnlab augment preview cat.jpg                       # original, the course's six, every policy\n\n"
    "  cnnlab augment preview --data /tmp/cifarL --count 6 --policy randaugment --policy cutmix --seed 3\n\n"
    "Policies: randaugment, trivialaugment, autoaugment (CIFAR-10), augmix, mixup, cutmix (as `cnnlab train` runs "
    "them); the same --seed gives the same picture."
)


@app.command(epilog=PREVIEW_EPILOG)
def preview(
    images: Optional[list[str]] = typer.Argument(None, help="Image files (or use --data)."),
    data: Optional[str] = typer.Option(None, help="A dataset or image folder: one image of each of --count classes."),
    data_dir: Optional[str] = typer.Option(None, help="Where a named dataset's files are."),
    count: int = typer.Option(4, min=1, help="How many images (classes) to take from --data."),
    policy: Optional[list[str]] = typer.Option(None, help="A policy column; repeat for several (default: all)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same picture."),
    out: str = typer.Option("augment_preview.png", help="The PNG file to write."),
) -> None:
    """One PNG grid: each image as it is, flipped, rotated, cropped, colour-jittered, cut out, erased, and through
    each chosen policy, every column labelled."""
    from cnnlab.viz.augment_preview import augment_preview  # torch loads only when the verb runs

    print(augment_preview(images, data, out, policy, seed, count, data_dir))
