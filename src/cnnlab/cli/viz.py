"""`cnnlab viz filters|featuremaps|gradcam|curves`: pictures of what a trained run learned."""

from pathlib import Path
from typing import Optional

import typer

from cnnlab.console import console

app = typer.Typer(help="Pictures of a trained run: filters, feature maps, Grad-CAM, training curves.",
                  no_args_is_help=True)
RUN = typer.Argument(..., help="Run directory or checkpoint file.")
OUT = typer.Option(None, help="Folder for the PNG files (default: RUN/viz).")


@app.command()
def filters(
    run: str = RUN,
    layer: Optional[str] = typer.Option(None, help="Conv layer name (default: the first conv layer)."),
    out: Optional[str] = OUT,
) -> None:
    """A grid of a conv layer's filters: RGB tiles for the first layer, one grey tile per input channel otherwise."""
    from cnnlab.viz.views import filters_png  # torch loads only when the verb runs

    print(filters_png(run, layer, out))


@app.command()
def featuremaps(
    run: str = RUN,
    image: str = typer.Argument(..., help="One image file."),
    layer: Optional[list[str]] = typer.Option(None, help="Layer name; repeat for several (default: last conv stage)."),
    out: Optional[str] = OUT,
) -> None:
    """The activations of chosen layers for one image: a grid of channels per layer."""
    from cnnlab.viz.views import featuremap_pngs  # torch loads only when the verb runs

    for path in featuremap_pngs(run, image, layer, out):
        print(path)


@app.command()
def gradcam(
    run: str = RUN,
    images: list[str] = typer.Argument(..., help="Image files or folders."),
    layer: Optional[str] = typer.Option(None, help="Target layer (default: the model's last conv stage)."),
    target: Optional[str] = typer.Option(None, "--class", help="Explain this class instead of the predicted one."),
    method: str = typer.Option("gradcam", help="gradcam or gradcam++."),
    out: Optional[str] = OUT,
) -> None:
    """Grad-CAM heatmaps over the images, for the predicted or a chosen class."""
    from cnnlab.viz.views import gradcam_png  # torch loads only when the verb runs

    path, rows = gradcam_png(run, images, layer, target, method, out)
    for row in rows:
        console.print(f"{row['file']}: {row['class']} {row['probability']:.1%}")
    print(path)


@app.command()
def curves(
    runs: list[str] = typer.Argument(..., help="One or more run directories."),
    out: str = typer.Option("curves.png", help="The PNG file to write."),
) -> None:
    """Loss, accuracy and learning-rate curves by epoch, several runs overlaid."""
    from cnnlab.viz.curves import save_curves  # matplotlib loads only when the verb runs

    print(save_curves(runs, Path(out)))
