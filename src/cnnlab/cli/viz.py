"""`cnnlab viz filters|featuremaps|gradcam|curves|gradflow`: pictures of what a trained run learned."""

from pathlib import Path
from typing import Optional

import typer

from cnnlab.cli.console import console

app = typer.Typer(help="Pictures of a trained run: filters, feature maps, Grad-CAM, training curves, gradient flow.",
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
    target: Optional[str] = typer.Option(None, "--class", "--label", help="Explain this class instead of the "
                                         "predicted one (multi-label: this label instead of every answered one)."),
    method: str = typer.Option("gradcam", help="gradcam or gradcam++."),
    out: Optional[str] = OUT,
) -> None:
    """Grad-CAM heatmaps over the images, for the predicted or a chosen class; for a multi-label run, one for each
    label an image is answered, or for the label chosen."""
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


GRADFLOW_EPILOG = (
    "Examples:\n\n"
    "  cnnlab viz gradflow plain56 resnet56            # at initialisation, on a batch of the sample data\n\n"
    "  cnnlab viz gradflow runs/my-run --out gradflow.png   # the run at init and trained, on its own data"
)


@app.command(epilog=GRADFLOW_EPILOG)
def gradflow(
    sources: list[str] = typer.Argument(..., help="Run directories, checkpoints or model names; several overlay."),
    data: str = typer.Option("sample", help="Dataset for the batch of a model name (a run uses its own)."),
    data_dir: Optional[str] = typer.Option(None, help="Where a named dataset's files are."),
    batch: int = typer.Option(64, min=2, help="Images in the batch."),
    seed: int = typer.Option(0, help="Seed of the batch and of a model's initialisation."),
    out: str = typer.Option("gradflow.png", help="The PNG file to write."),
    as_json: bool = typer.Option(False, "--json", help="Also print the norms per layer as JSON."),
) -> None:
    """The gradient norm of each layer's weights after one batch: a run at initialisation and trained, a model at
    initialisation; one line per curve on a log axis."""
    import json

    from cnnlab.viz.gradflow import gradient_flows, save_gradflow  # torch loads only when the verb runs

    flows = gradient_flows(sources, data, batch, seed, data_dir)
    path = save_gradflow(flows, Path(out))
    if as_json:
        print(json.dumps({"png": str(path), "curves": [vars(flow) for flow in flows]}))
        return
    for flow in flows:
        console.print(f"{flow.label}: first layer {flow.norms[0]:.2e}, last {flow.norms[-1]:.2e} "
                      f"({len(flow.norms)} layers)")
    print(path)
