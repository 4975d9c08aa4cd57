"""The FastAPI app: POST /predict, GET /health, GET /model, the web page at /, OpenAPI docs at /docs.

Every answer but the page is JSON, every refusal {"error": "<one line>"} with a 4xx (a 500 the same way): a bad
request is refused and the server goes on."""

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
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cnnlab import __version__
from cnnlab.data.decode import decode_image
from cnnlab.errors import CnnlabError, SettingError, first_line
from cnnlab.inference.exported import load_any
from cnnlab.inference.loaded import LoadedModel
from cnnlab.inference.predict import answer_of, check_confidence
from cnnlab.serve.batcher import Batcher
from cnnlab.serve.limits import BodyLimit, Limits, UploadRefused, check_upload, number, whole_number
from cnnlab.serve.overlay import overlay, png_data_url

ENVIRONMENT = "CNNLAB_SERVE"  # JSON {"source": ..., "options": {...}} for worker processes


@dataclass
class ServeOptions:
    """Batching (on, up to max_batch images, waiting at most max_wait_ms), the upload limits, and the confidence below
    which an answer is "unsure" (a request may ask for another)."""

    batching: bool = True
    max_batch: int = 32
    max_wait_ms: float = 5.0
    limits: Limits = field(default_factory=Limits)
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        """Refuse a value the server cannot use, naming it; limits may come as a dict of Limits' fields."""
        if not isinstance(self.batching, bool):
            raise SettingError("batching", f"must be true or false, got {self.batching!r}")
        whole_number("max_batch", self.max_batch, 1)
        number("max_wait_ms", self.max_wait_ms, 0)
        number("min_confidence", self.min_confidence, 0)
        check_confidence(self.min_confidence)
        if isinstance(self.limits, dict):
            self.limits = Limits(**self.limits)
        if not isinstance(self.limits, Limits):
            raise CnnlabError(f"the serve options' limits must be a Limits, got {type(self.limits).__name__}")


class ErrorBody(BaseModel):
    """Every refusal: a 4xx (or, for the server's own failure, a 500) with one line saying why."""

    error: str = Field(description="What is wrong, in one line (the file's name first when it is about one file).")


class Ranked(BaseModel):
    """One class and its probability."""

    class_: str = Field(alias="class")
    probability: float


class Prediction(BaseModel):
    """The answer for one uploaded image (its top class, or "unsure" when that class's probability is below the minimum
    confidence), its top-k classes, and its Grad-CAM overlay when asked for."""

    file: str
    answer: str = Field(description='The top class, or "unsure" below the minimum confidence; for a multi-label model '
                        'the labels answered, joined by ", " ("none" when no label reaches its threshold).')
    labels: list[Ranked] | None = Field(None, description="A multi-label model's labels whose probability is at least "
                                        "their threshold, most probable first.")
    top: list[Ranked]
    gradcam: str | None = Field(None, description="A PNG data URL, with ?gradcam=true.")


class Predictions(BaseModel):
    """What POST /predict answers."""

    model: str
    predictions: list[Prediction]


class Health(BaseModel):
    """What GET /health answers."""

    status: str
    batches: int
    largest_batch: int


class InputInfo(BaseModel):
    """The input a model takes."""

    channels: int
    height: int
    width: int
    mean: list[float]
    std: list[float]


class ModelInfo(BaseModel):
    """What GET /model answers."""

    name: str
    format: str
    path: str
    classes: list[str]
    input: InputInfo
    epoch: int | None
    metrics: dict
    gradcam: bool
    multi_label: bool = Field(description="Each class is a label of its own: any number of them per image.")
    thresholds: list[float] | None = Field(description="A multi-label model's threshold per label (else null).")


REFUSALS = {
    400: {"model": ErrorBody, "description": "An upload that is not a usable image, or no upload."},
    413: {"model": ErrorBody, "description": "An upload, or the whole request, over the server's limits."},
    422: {"model": ErrorBody, "description": "A request whose fields or query values are not valid."},
}


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
        "multi_label": record.multi_label,
        "thresholds": list(record.label_thresholds()) if record.multi_label else None,
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


def add_error_handlers(app: FastAPI) -> None:
    """Answer every refusal and failure as {"error": "<one line>"}, with its status."""

    @app.exception_handler(UploadRefused)
    async def refused(_: Request, err: UploadRefused) -> JSONResponse:
        """An upload the limits or the decoder refused."""
        return error(err.status, str(err))

    @app.exception_handler(CnnlabError)
    async def mistaken(_: Request, err: CnnlabError) -> JSONResponse:
        """A request the library refused (a unit outside its layer, a class the model does not have)."""
        return error(400, first_line(err))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        """A request FastAPI could not validate (a text field where a file belongs, a bad query value)."""
        first = err.errors()[0]
        return error(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        """Starlette's and FastAPI's own refusals (404, 405, a body that cannot be parsed or is over the limit)."""
        return error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def failed(_: Request, err: Exception) -> JSONResponse:
        """The server's own failure, as JSON too (uvicorn logs the traceback)."""
        return error(500, f"internal error: {type(err).__name__}: {first_line(err)}")


def create_app(source: str | Path, options: ServeOptions | None = None) -> FastAPI:
    """An app serving a run directory, checkpoint, or exported model (.onnx, .torchscript.pt)."""
    options = options or ServeOptions()
    limits = options.limits
    loaded = load_any(source)
    check_confidence(options.min_confidence, loaded.record)
    info = model_info(loaded)
    running: dict = {}  # the model's thread and the batcher, while the app's lifespan runs

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        """Start the model's thread and the batcher with the server, stop them after (each time: a test client
        may run the lifespan again)."""
        executor = ThreadPoolExecutor(1, thread_name_prefix="cnnlab-model")  # the model runs one batch at a time
        batcher = Batcher(loaded.logits, executor, options.max_batch if options.batching else 1,
                          options.max_wait_ms / 1000 if options.batching else 0.0)
        batcher.start()
        running.update(executor=executor, batcher=batcher)
        try:
            yield
        finally:
            running.clear()
            await batcher.stop()
            executor.shutdown(wait=False)

    def started() -> tuple[ThreadPoolExecutor, Batcher]:
        """The model's thread and the batcher; a 503 before the lifespan has started them."""
        if not running:
            raise UploadRefused(503, "the server is starting or stopping: try again")
        return running["executor"], running["batcher"]

    app = FastAPI(title="cnnlab", version=__version__, lifespan=lifespan,
                  description=f"Image classification with {info['name']} ({len(info['classes'])} classes).")
    app.add_middleware(BodyLimit, limit=limits.request_bytes)  # FastAPI's max_body_size answers in plain text

    add_error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        """The web page: drop an image, see the top-5 and the Grad-CAM."""
        return (package_files("cnnlab.serve") / "static" / "index.html").read_text()

    @app.get("/health", response_model=Health)
    async def health() -> dict:
        """Whether the server is up, and how many batches (the largest of how many images) it has run."""
        _, batcher = started()
        return {"status": "ok", "batches": batcher.batches, "largest_batch": batcher.largest}

    @app.get("/model", response_model=ModelInfo)
    async def model() -> dict:
        """The model's name, classes, input (size, mean/std) and the run's metrics."""
        return info

    @app.post("/predict", response_model=Predictions, response_model_exclude_none=True, responses=REFUSALS)
    async def predict(
        file: UploadFile | None = File(None, description="One image."),
        files: list[UploadFile] | None = File(None, description="Several images, predicted as one batch."),
        top: int = Query(5, ge=1, le=1000, description="How many classes per image."),
        gradcam: bool = Query(False, description="Add a Grad-CAM overlay per image (runs only, not exported models)."),
        min_confidence: float | None = Query(None, ge=0, le=1, description='Answer "unsure" when the top probability '
                                             f"is below this (default: the server's, {options.min_confidence:g})."),
    ) -> dict:
        """Top-k classes with probabilities for each uploaded image (multipart field `file`, or `files`)."""
        uploads = ([file] if file is not None else []) + list(files or [])
        if not uploads:
            raise UploadRefused(400, "no image: send it as the multipart field 'file' (or several as 'files')")
        if len(uploads) > limits.max_files:
            raise UploadRefused(413, f"{len(uploads)} files, over the limit of {limits.max_files} per request")
        if gradcam and not info["gradcam"]:
            raise UploadRefused(400, "Grad-CAM needs the run's PyTorch model: serve the run, not an exported model")
        executor, batcher = started()
        names = [upload.filename or f"file{i}" for i, upload in enumerate(uploads)]
        datas = [await upload.read(limits.max_bytes + 1) for upload in uploads]
        images = await asyncio.to_thread(
            lambda: torch.stack([decode_upload(n, d, loaded, limits) for n, d in zip(names, datas)]))
        probabilities = loaded.probabilities(await batcher.submit(images))
        threshold = options.min_confidence if min_confidence is None else check_confidence(min_confidence,
                                                                                           loaded.record)
        results = [{"file": n, **answer_of(loaded.record, p, top, threshold)} for n, p in zip(names, probabilities)]
        if gradcam:
            loop = asyncio.get_running_loop()
            urls = await loop.run_in_executor(executor, cam_overlays, loaded, images, datas, names)
            for result, url in zip(results, urls):
                result["gradcam"] = url
        return {"model": info["name"], "predictions": results}

    default_openapi = app.openapi

    def openapi() -> dict:
        """FastAPI's schema, with the uploads described as files (see describe_uploads)."""
        if app.openapi_schema is None:
            describe_uploads(default_openapi(), limits)
        return app.openapi_schema

    app.openapi = openapi
    return app


def describe_uploads(schema: dict, limits: Limits) -> None:
    """Say in the OpenAPI schema what POST /predict takes: `file`, or `files` (one or more), or both, each a file
    (format binary, which clients and test generators read as a file part; FastAPI says only its media type, and
    that it may be null, which a multipart field cannot be). That one of them is needed is said in words: an anyOf
    of two `required` lists is read by test generators as two separate bodies."""
    body = schema["paths"]["/predict"]["post"]["requestBody"]
    body["required"] = True
    reference = body["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    image = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
    fields["properties"]["file"] = {**image, "title": "File", "description": "One image."}
    fields["properties"]["files"] = {  # no maxItems: more than the limit is a 413, not a request the schema forbids
        "type": "array", "items": image, "minItems": 1, "title": "Files",
        "description": f"Several images, predicted as one batch (at most {limits.max_files} files in a request)."}
    fields["description"] = "At least one image: as `file`, as `files`, or both (no image is a 400)."


def cam_overlays(loaded: LoadedModel, images: torch.Tensor, datas: list[bytes], names: list[str]) -> list[str]:
    """Each uploaded image with the Grad-CAM heatmap of its predicted class (multi-label: its most probable label)
    over it, as PNG data URLs."""
    from cnnlab.viz.gradcam import grad_cam

    maps = grad_cam(loaded.model, loaded.preprocess(images), multi_label=loaded.record.multi_label).maps
    urls = []
    for name, data, heatmap in zip(names, datas, maps):
        try:
            urls.append(png_data_url(overlay(data, heatmap, loaded.input_shape)))
        except CnnlabError as err:  # it decoded once already, so not expected; a refusal all the same, not a 500
            raise UploadRefused(400, f"{name}: {getattr(err, 'reason', err)}") from None
    return urls


def environment_value(source: str | Path, options: ServeOptions) -> str:
    """The JSON a worker process reads from CNNLAB_SERVE to build the same app."""
    return json.dumps({"source": str(source), "options": asdict(options)})


def app_from_environment() -> FastAPI:
    """The app named by CNNLAB_SERVE (uvicorn's factory for several worker processes)."""
    settings = json.loads(os.environ[ENVIRONMENT])
    return create_app(settings["source"], ServeOptions(**settings["options"]))
