"""The FastAPI app: POST /predict, GET /health, GET /model, the web page at /, OpenAPI docs at /docs."""

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.resources import files as package_files
from pathlib import Path

import torch
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cnnlab import __version__
from cnnlab.data.decode import decode_image
from cnnlab.errors import CnnlabError
from cnnlab.inference.exported import load_any
from cnnlab.inference.loaded import LoadedModel
from cnnlab.inference.predict import top_k
from cnnlab.serve.batcher import Batcher
from cnnlab.serve.limits import Limits, UploadRefused, check_upload
from cnnlab.serve.overlay import overlay, png_data_url

ENVIRONMENT = "CNNLAB_SERVE"  # JSON {"source": ..., "options": {...}} for worker processes


@dataclass
class ServeOptions:
    """Batching (on, up to max_batch images, waiting at most max_wait_ms) and the upload limits."""

    batching: bool = True
    max_batch: int = 32
    max_wait_ms: float = 5.0
    limits: Limits = field(default_factory=Limits)


def model_info(loaded: LoadedModel) -> dict:
    """What GET /model says: the architecture, its classes, the input it takes, the run's metrics."""
    meta, record = loaded.meta, loaded.record
    channels, height, width = record.input_shape
    return {
        "name": record.architecture,
        "format": loaded.exported or "pytorch",
        "path": str(loaded.path),
        "classes": loaded.classes,
        "input": {"channels": channels, "height": height, "width": width, "mean": list(record.mean),
                  "std": list(record.std)},
        "epoch": meta.get("epoch"),
        "metrics": meta.get("metrics", {}),
        "gradcam": loaded.exported is None,
    }


def decode_upload(name: str, data: bytes, loaded: LoadedModel, limits: Limits) -> torch.Tensor:
    """One upload as the uint8 (C, H, W) image the model takes, after the limits are checked."""
    check_upload(name, data, limits)
    try:
        return decode_image(data, channels=loaded.record.in_chans, size=loaded.record.image_size)
    except CnnlabError as err:
        raise UploadRefused(400, f"{name}: {getattr(err, 'reason', err)}") from None


def error(status: int, message: str) -> JSONResponse:
    """The JSON every refusal answers with: {"error": message}."""
    return JSONResponse({"error": message}, status_code=status)


def create_app(source: str | Path, options: ServeOptions | None = None) -> FastAPI:
    """An app serving a run directory, checkpoint, or exported model (.onnx, .torchscript.pt)."""
    options = options or ServeOptions()
    limits = options.limits
    loaded = load_any(source)
    info = model_info(loaded)
    executor = ThreadPoolExecutor(1, thread_name_prefix="cnnlab-model")  # the model runs one batch at a time
    batcher = Batcher(loaded.logits, executor, options.max_batch if options.batching else 1,
                      options.max_wait_ms / 1000 if options.batching else 0.0)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        """Start the batcher with the server; stop it and the model's thread after."""
        batcher.start()
        yield
        await batcher.stop()
        executor.shutdown(wait=False)

    app = FastAPI(title="cnnlab", version=__version__, lifespan=lifespan, max_body_size=limits.max_request_bytes,
                  description=f"Image classification with {info['name']} ({len(info['classes'])} classes).")

    @app.exception_handler(UploadRefused)
    async def refused(_: Request, err: UploadRefused) -> JSONResponse:
        """An upload the limits or the decoder refused."""
        return error(err.status, str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        """A request FastAPI could not validate (a text field where a file belongs, a bad query value)."""
        first = err.errors()[0]
        return error(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        """Starlette's and FastAPI's own refusals (404, 405, a body over max_body_size) in the same JSON shape."""
        return error(err.status_code, str(err.detail))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        """The web page: drop an image, see the top-5 and the Grad-CAM."""
        return (package_files("cnnlab.serve") / "static" / "index.html").read_text()

    @app.get("/health")
    async def health() -> dict:
        """Whether the server is up, and how many batches (the largest of how many images) it has run."""
        return {"status": "ok", "batches": batcher.batches, "largest_batch": batcher.largest}

    @app.get("/model")
    async def model() -> dict:
        """The model's name, classes, input (size, mean/std) and the run's metrics."""
        return info

    @app.post("/predict")
    async def predict(
        file: UploadFile | None = File(None, description="One image."),
        files: list[UploadFile] | None = File(None, description="Several images, predicted as one batch."),
        top: int = Query(5, ge=1, le=1000, description="How many classes per image."),
        gradcam: bool = Query(False, description="Add a Grad-CAM overlay per image (runs only, not exported models)."),
    ) -> dict:
        """Top-k classes with probabilities for each uploaded image (multipart field `file`, or `files`)."""
        uploads = ([file] if file is not None else []) + list(files or [])
        if not uploads:
            raise UploadRefused(400, "no image: send it as the multipart field 'file' (or several as 'files')")
        if len(uploads) > limits.max_files:
            raise UploadRefused(413, f"{len(uploads)} files, over the limit of {limits.max_files} per request")
        if gradcam and not info["gradcam"]:
            raise UploadRefused(400, "Grad-CAM needs the run's PyTorch model: serve the run, not an exported model")
        names = [upload.filename or f"file{i}" for i, upload in enumerate(uploads)]
        datas = [await upload.read(limits.max_bytes + 1) for upload in uploads]
        images = await asyncio.to_thread(
            lambda: torch.stack([decode_upload(n, d, loaded, limits) for n, d in zip(names, datas)]))
        probabilities = (await batcher.submit(images)).softmax(1)
        results = [{"file": n, "top": top_k(p, loaded.classes, top)} for n, p in zip(names, probabilities)]
        if gradcam:
            urls = await asyncio.get_running_loop().run_in_executor(executor, cam_overlays, loaded, images, datas)
            for result, url in zip(results, urls):
                result["gradcam"] = url
        return {"model": info["name"], "predictions": results}

    return app


def cam_overlays(loaded: LoadedModel, images: torch.Tensor, datas: list[bytes]) -> list[str]:
    """Each uploaded image with the Grad-CAM heatmap of its predicted class over it, as PNG data URLs."""
    from cnnlab.viz.gradcam import grad_cam

    maps = grad_cam(loaded.model, loaded.preprocess(images)).maps
    return [png_data_url(overlay(data, heatmap, loaded.input_shape)) for data, heatmap in zip(datas, maps)]


def environment_value(source: str | Path, options: ServeOptions) -> str:
    """The JSON a worker process reads from CNNLAB_SERVE to build the same app."""
    return json.dumps({"source": str(source), "options": asdict(options)})


def app_from_environment() -> FastAPI:
    """The app named by CNNLAB_SERVE (uvicorn's factory for several worker processes)."""
    settings = json.loads(os.environ[ENVIRONMENT])
    options = settings["options"]
    options["limits"] = Limits(**options["limits"])
    return create_app(settings["source"], ServeOptions(**options))
