"""`cnnlab serve`: a prediction service (FastAPI + uvicorn) with a web page, for a run or an exported model."""

from typing import Optional

import typer

from cnnlab.serve import defaults

EPILOG = (
    "Examples:\n\n  cnnlab serve runs/my-run            # then open http://127.0.0.1:8000/\n\n"
    "  cnnlab serve runs/my-run/export/model.onnx --port 8080 --workers 2\n\n"
    "  cnnlab serve cats=runs/cats dogs=runs/dogs   # /models/cats/predict, /models/dogs/predict\n\n"
    "  curl -F file=@cat.jpg http://127.0.0.1:8000/predict"
)


def serve(
    models: list[str] = typer.Argument(..., help="Run directories, checkpoint files, or exported models (.onnx, "
                                       ".torchscript.pt), each as NAME=PATH or named after its run; the first is the "
                                       "default (/predict, /model)."),
    host: str = typer.Option(defaults.HOST, help="Address to bind (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(defaults.PORT, help="Port to listen on (0: any free port)."),
    workers: int = typer.Option(defaults.WORKERS, help="Worker processes, each with its own copy of the model."),
    batching: bool = typer.Option(defaults.BATCHING, "--batching/--no-batching",
                                  help="Run requests arriving together as one batch."),
    max_batch: int = typer.Option(defaults.MAX_BATCH, help="Most images in one batch."),
    max_wait_ms: float = typer.Option(defaults.MAX_WAIT_MS, help="Longest a lone request waits for others to batch "
                                       "with (ms; 0: it goes to a free engine at once)."),
    max_upload_mb: float = typer.Option(defaults.MAX_UPLOAD_MB, help="Largest image file accepted (MB, of 2**20 bytes)."),
    max_pixels: int = typer.Option(defaults.MAX_PIXELS, help="Most pixels an image may have (decompression bombs refused)."),
    min_confidence: float = typer.Option(defaults.MIN_CONFIDENCE, help="Answer \"unsure\" when the top probability is below this (a "
                                         "request's ?min_confidence= overrides it)."),
    engine: str = typer.Option(defaults.ENGINE, help="What runs a run's model: auto (onnx when ONNX Runtime is installed, "
                               "else torch), torch, or onnx or int8 (ONNX Runtime, on an export made in the run "
                               "once, verified, and reused while the run's weights are the same)."),
    threads: Optional[int] = typer.Option(None, help="Threads the engine computes with (default: every core but one, "
                                          "which is left to the HTTP side)."),
    engine_process: bool = typer.Option(defaults.ENGINE_PROCESS, "--engine-process/--engine-thread",
                                        help="Compute each model's batches in a process of its own (its own "
                                        "interpreter lock: the HTTP side and the model do not stall each other), or "
                                        "in a thread of the server's process."),
) -> None:
    """POST /predict (multipart image or images) → top-k JSON; GET /models, /health, /ready, /metrics (Prometheus),
    docs at /docs, a page at /. SIGTERM finishes the requests in flight, then exits."""
    from cnnlab.serve.app import ServeOptions  # fastapi, uvicorn and torch load only when the verb runs
    from cnnlab.serve.limits import Limits
    from cnnlab.serve.server import check_address, run_server

    check_address(host, port, workers)  # the options are the library's to check, in the order they are listed
    limits = Limits.in_megabytes(max_upload_mb, max_pixels=max_pixels)
    run_server(models, host, port, workers, ServeOptions(batching, max_batch, max_wait_ms, limits, min_confidence,
                                                         engine, threads, engine_process))
