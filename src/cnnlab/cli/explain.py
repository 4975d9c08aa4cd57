"""`cnnlab explain`: a page that lays a network open on one image: every layer's maps, a unit's field and arithmetic."""

import typer

from cnnlab.serve import defaults

EPILOG = (
    "Examples:\n\n  cnnlab explain runs/my-run          # then open http://127.0.0.1:8000/\n\n"
    "  cnnlab explain resnet18 --port 8080  # a zoo model by name, with random weights (--pretrained: ImageNet)\n\n"
    "  curl 'http://127.0.0.1:8000/images/t0/unit?layer=0&channel=3&row=5&col=7'"
)


def explain(
    model: str = typer.Argument(..., help="Run directory, checkpoint file, or a zoo model name (random weights)."),
    host: str = typer.Option(defaults.HOST, help="Address to bind (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(defaults.PORT, help="Port to listen on (0: any free port)."),
    pretrained: bool = typer.Option(False, "--pretrained", help="A zoo model with its ImageNet weights, not random ones."),
    max_upload_mb: float = typer.Option(defaults.MAX_UPLOAD_MB, help="Largest image file accepted (MB, of 2**20 bytes)."),
) -> None:
    """Serve the explainer page: pick or drop an image, see every layer's maps, click a unit for its receptive field
    (theoretical and effective) and the arithmetic of its value with the model's weights; filters and Grad-CAM."""
    import uvicorn  # fastapi, uvicorn and torch load only when the verb runs

    from cnnlab.serve.explainer import create_explainer_app
    from cnnlab.serve.limits import Limits
    from cnnlab.serve.server import KEEP_ALIVE_S, check_address

    check_address(host, port, 1)
    app = create_explainer_app(model, pretrained, Limits.in_megabytes(max_upload_mb))
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=KEEP_ALIVE_S)
