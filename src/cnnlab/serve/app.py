"""The FastAPI app: one model or several, each at /models/{name} and POST /models/{name}/predict (the first also at
GET /model and POST /predict); GET /models, GET /health (alive), GET /ready (loaded and warmed up), GET /metrics
(Prometheus), the web page at /, OpenAPI docs at /docs (served from an installed package: it works offline).

Every answer but the page, the docs and the metrics is JSON, every refusal {"error": "<one line>"} with a 4xx (a 500
the same way): a bad request is refused and the server goes on. Every answer carries its X-Request-ID."""

import asyncio
import json
import os
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from importlib.resources import files as package_files
from pathlib import Path

import torch
from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cnnlab import __version__
from cnnlab.data.decode import decode_image
from cnnlab.errors import CnnlabError, SettingError, first_line
from cnnlab.inference.loaded import LoadedModel
from cnnlab.inference.predict import answers_of, check_confidence
from cnnlab.serve.compute import Uploads
from cnnlab.serve.defaults import BATCHING, ENGINE, ENGINE_PROCESS, ENGINES, MAX_BATCH, MAX_WAIT_MS, MIN_CONFIDENCE
from cnnlab.serve.docs import add_docs
from cnnlab.serve.limits import BodyLimit, Limits, UploadRefused, check_upload, number, whole_number
from cnnlab.serve.metrics import CONTENT_TYPE, Metrics
from cnnlab.serve.observed import Observed, failure_message
from cnnlab.serve.overlay import overlay, png_data_url
from cnnlab.serve.plain import PlainPredict
from cnnlab.serve.served import ServedModel

ENVIRONMENT = "CNNLAB_SERVE"  # JSON {"source": ..., "options": {...}} for worker processes


@dataclass
class ServeOptions:
    """Batching (on, up to max_batch images, waiting at most max_wait_ms), the upload limits, the confidence below
    which an answer is "unsure" (a request may ask for another), the engine (see engine.py), its threads (None:
    see threads.py) and whether each model computes in a process of its own (see engine_process.py)."""

    batching: bool = BATCHING
    max_batch: int = MAX_BATCH
    max_wait_ms: float = MAX_WAIT_MS
    limits: Limits = field(default_factory=Limits)
    min_confidence: float = MIN_CONFIDENCE
    engine: str = ENGINE
    threads: int | None = None
    engine_process: bool = ENGINE_PROCESS

    def __post_init__(self) -> None:
        """Refuse a value the server cannot use, naming it; limits may come as a dict of Limits' fields."""
        for name in ("batching", "engine_process"):
            if not isinstance(getattr(self, name), bool):
                raise SettingError(name, f"must be true or false, got {getattr(self, name)!r}")
        whole_number("max_batch", self.max_batch, 1)
        number("max_wait_ms", self.max_wait_ms, 0)
        number("min_confidence", self.min_confidence, 0)
        check_confidence(self.min_confidence)
        if self.engine not in ENGINES:
            raise SettingError("engine", f"{self.engine!r} is not one of: {', '.join(ENGINES)}")
        if self.threads is not None:
            whole_number("threads", self.threads, 1)
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

    model: str = Field(description="The architecture.")
    served_as: str = Field(description="The model's name in this server (/models/{name}).")
    version: str = Field(description="The weights' version: the run's epoch and the first digits of their sha256.")
    predictions: list[Prediction]


class Health(BaseModel):
    """What GET /health answers."""

    status: str
    batches: int
    largest_batch: int


class Ready(BaseModel):
    """What GET /ready answers once every model is warm."""

    status: str
    models: list[str]


class InputInfo(BaseModel):
    """The input a model takes."""

    channels: int
    height: int
    width: int
    mean: list[float]
    std: list[float]


class ModelInfo(BaseModel):
    """What GET /model and GET /models/{name} answer."""

    name: str = Field(description="The architecture.")
    served_as: str = Field(description="The model's name in this server (/models/{name}).")
    version: str = Field(description="The weights' version: the run's epoch and the first digits of their sha256.")
    engine: str = Field(description="What runs it: torch, onnx (ONNX Runtime) or int8 (ONNX Runtime, quantised).")
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
    503: {"model": ErrorBody, "description": "The server is starting or stopping."},
    422: {"model": ErrorBody, "description": "A request whose fields or query values are not valid."},
}


def served_info(served: ServedModel) -> dict:
    """What GET /models/{name} says: model_info, with the name it is served as, its version and engine."""
    return {**model_info(served.loaded), "served_as": served.name, "version": served.version, "engine": served.engine,
            "gradcam": served.explainable}


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
        """The server's own failure, as JSON too (uvicorn logs the traceback; the prediction app's Observed first)."""
        return error(500, failure_message(err))


class ServerApp(FastAPI):
    """FastAPI, behind the server's own front (`front`: see create_app), which answers the plain prediction requests
    before FastAPI's middleware (error, telemetry, body-limit and exception layers, each a coroutine and a wrapped
    `send` per request) and passes it the rest."""

    front = None  # an ASGI app that ends in FastAPI's own __call__

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 (ASGI)
        """Every request goes through the front."""
        await self.front(scope, receive, send)


def create_app(sources: str | Path | list[str | Path], options: ServeOptions | None = None) -> FastAPI:
    """An app serving one or more models: run directories, checkpoints, exported models (.onnx, .torchscript.pt), each
    as NAME=PATH or named after its run. The first is the default, which /predict and /model answer for."""
    options = options or ServeOptions()
    limits = options.limits
    metrics = Metrics()
    models = served_models([sources] if isinstance(sources, (str, Path)) else list(sources), options, metrics)
    for served in models.values():
        check_confidence(options.min_confidence, served.loaded.record)
    default = next(iter(models.values()))
    max_batch = options.max_batch if options.batching else 1
    running: dict = {}  # "warming": the warm-up task, while the app's lifespan runs

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        """Start each model's thread and batcher with the server, warm them up in the background (the server answers
        /health meanwhile, /ready with a 503), stop them after (each time: a test client may run the lifespan again)."""
        for served in models.values():
            served.warm.clear()
            served.start(max_batch, options.max_wait_ms / 1000 if options.batching else 0.0)
        running["warming"] = asyncio.create_task(asyncio.to_thread(warm_up, list(models.values()), max_batch))
        try:
            yield
        finally:
            running.clear()
            for served in models.values():
                await served.stop()

    def started(name: str | None = None) -> ServedModel:
        """A model by name (the default without one); a 503 before the lifespan has started it."""
        served = models[name] if name is not None else default
        if served.batcher is None:
            raise UploadRefused(503, "the server is starting or stopping: try again")
        return served

    app = ServerApp(title="cnnlab", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Image classification with {', '.join(f'{n} ({m.loaded.record.architecture})' for n, m in models.items())}.")
    add_error_handlers(app)
    add_docs(app)
    Name = Enum("Name", {name: name for name in models}, type=str)  # noqa: N806 (a type: the schema lists the names)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        """The web page: drop an image, see the top-5 and the Grad-CAM."""
        return (package_files("cnnlab.serve") / "static" / "index.html").read_text()

    @app.get("/health", response_model=Health)
    async def health() -> dict:
        """Whether the server is alive (whether or not its models are ready), and how many batches (the largest of how
        many images) it has run."""
        batchers = [served.batcher for served in models.values() if served.batcher is not None]
        return {"status": "ok", "batches": sum(b.batches for b in batchers),
                "largest_batch": max((b.largest for b in batchers), default=0)}

    @app.get("/ready", response_model=Ready, responses={503: {"model": ErrorBody, "description": "Not ready yet."}})
    async def ready() -> dict:
        """200 once every model is loaded and warmed up, a 503 until then (and while the server stops)."""
        cold = [name for name, served in models.items() if served.batcher is None or not served.warm.is_set()]
        if cold:
            raise UploadRefused(503, f"not ready: warming up {', '.join(cold)}")
        return {"status": "ready", "models": list(models)}

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        """Prometheus' text format: requests, errors, latency, batch sizes, in-flight requests, model load time."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/models", response_model=list[ModelInfo])
    async def listing() -> list[dict]:
        """Every model served: its name (as in /models/{name}/predict), version, engine, classes and input."""
        return [served_info(served) for served in models.values()]

    @app.get("/models/{name}", response_model=ModelInfo, responses=REFUSALS)
    async def one_model(name: Name) -> dict:
        """One model's name, version, engine, classes, input (size, mean/std) and its run's metrics."""
        return served_info(models[name.value])

    @app.get("/model", response_model=ModelInfo)
    async def model() -> dict:
        """The default model's name, classes, input (size, mean/std) and the run's metrics."""
        return served_info(default)

    @dataclass
    class Asked:
        """What a prediction request sends: the images, and how to answer."""

        uploads: list[UploadFile]
        top: int
        gradcam: bool
        threshold: float

    async def asked(  # a coroutine, as FastAPI runs a plain function (a class's __init__) in a thread of its pool
        file: UploadFile | None = File(None, description="One image."),
        files: list[UploadFile] | None = File(None, description="Several images, predicted as one batch."),
        top: int = Query(5, ge=1, le=1000, description="How many classes per image."),
        gradcam: bool = Query(False, description="Add a Grad-CAM overlay per image (runs only, not exported "
                              "models)."),
        min_confidence: float | None = Query(None, ge=0, le=1, description='Answer "unsure" when the top '
                                             f"probability is below this (default: the server's, "
                                             f"{options.min_confidence:g})."),
    ) -> Asked:
        """The request's fields, read."""
        uploads = ([file] if file is not None else []) + list(files or [])
        return Asked(uploads, top, gradcam, options.min_confidence if min_confidence is None else min_confidence)

    async def answer(served: ServedModel, names: list[str], datas: list[bytes], top: int = 5, gradcam: bool = False,
                     threshold: float = options.min_confidence) -> JSONResponse:
        """Top-k classes with probabilities for each uploaded image, with Grad-CAM overlays when asked."""
        if not datas:
            raise UploadRefused(400, "no image: send it as the multipart field 'file' (or several as 'files')")
        if len(datas) > limits.max_files:
            raise UploadRefused(413, f"{len(datas)} files, over the limit of {limits.max_files} per request")
        if gradcam and not served.explainable:
            raise UploadRefused(400, "Grad-CAM needs the run's PyTorch model: serve the run, not an exported model")
        loaded = served.loaded
        names = [name or f"file{i}" for i, name in enumerate(names)]
        probabilities = await served.predict(Uploads(names, datas, limits))
        threshold = check_confidence(threshold, loaded.record)
        results = [{"file": n, **answer} for n, answer in zip(names, answers_of(loaded.record, probabilities, top,
                                                                                threshold))]
        if gradcam:
            loop = asyncio.get_running_loop()
            urls = await loop.run_in_executor(served.executor, cam_overlays, served.explained(), datas, names, limits)
            for result, url in zip(results, urls):
                result["gradcam"] = url
        # answered as built, in Predictions' shape: FastAPI's validating and serialising it again took about a
        # twentieth of the event loop's time per request (profiled at concurrency 16)
        return JSONResponse({"model": loaded.record.architecture, "served_as": served.name, "version": served.version,
                             "predictions": results})

    async def answer_asked(served: ServedModel, asked: Asked) -> JSONResponse:
        """The answer to a request as FastAPI read it."""
        if len(asked.uploads) > limits.max_files:  # refused before any file is read
            raise UploadRefused(413, f"{len(asked.uploads)} files, over the limit of {limits.max_files} per request")
        datas = [await upload.read(limits.max_bytes + 1) for upload in asked.uploads]
        return await answer(served, [upload.filename for upload in asked.uploads], datas, asked.top, asked.gradcam,
                            asked.threshold)

    @app.post("/predict", response_model=Predictions, response_model_exclude_none=True, responses=REFUSALS)
    async def predict(asked: Asked = Depends(asked)) -> JSONResponse:
        """Top-k classes with probabilities for each uploaded image (multipart field `file`, or `files`), from the
        default model."""
        return await answer_asked(started(), asked)

    @app.post("/models/{name}/predict", response_model=Predictions, response_model_exclude_none=True,
              responses=REFUSALS)
    async def predict_with(name: Name, asked: Asked = Depends(asked)) -> JSONResponse:
        """Top-k classes with probabilities for each uploaded image (multipart field `file`, or `files`), from the
        model named."""
        return await answer_asked(started(name.value), asked)

    async def answer_plain(name: str | None, names: list[str], datas: list[bytes]) -> JSONResponse:
        """The answer to a plain request (see plain.py), with the defaults of the query's values."""
        return await answer(started(name), names, datas)

    routes = {route.path: route for route in app.routes if route.path in ("/predict", "/models/{name}/predict")}

    async def fastapi(scope, receive, send) -> None:  # noqa: ANN001 (ASGI)
        await FastAPI.__call__(app, scope, receive, send)

    # outermost first: Observed (a 413 before routing is counted and has an id too), the limit on the body (FastAPI's
    # max_body_size answers in plain text), the plain requests' own path, then FastAPI with its own middleware
    app.front = Observed(BodyLimit(PlainPredict(fastapi, answer_plain, set(models), routes), limits.request_bytes),
                         metrics)

    default_openapi = app.openapi

    def openapi() -> dict:
        """FastAPI's schema, with the uploads described as files (see describe_uploads)."""
        if app.openapi_schema is None:
            describe_uploads(default_openapi(), limits)
        return app.openapi_schema

    app.openapi = openapi
    return app


def served_models(sources: list[str | Path], options: ServeOptions, metrics: Metrics) -> dict[str, ServedModel]:
    """Each source loaded, by its name; two of one name are refused (name them NAME=PATH)."""
    if not sources:
        raise CnnlabError("no model to serve")
    models: dict[str, ServedModel] = {}
    for source in sources:
        served = ServedModel(source, metrics, options.engine, options.threads, options.engine_process)
        if served.name in models:
            raise CnnlabError(f"two models named {served.name!r} ({models[served.name].source} and {served.source}): "
                              "name them, as NAME=PATH")
        models[served.name] = served
    return models


def warm_up(models: list[ServedModel], max_batch: int) -> None:
    """Warm every model up, one after the other (they share the cores)."""
    for served in models:
        served.warm_up(max_batch)


def describe_uploads(schema: dict, limits: Limits) -> None:
    """Say in the OpenAPI schema what POST /predict takes: `file`, or `files` (one or more), or both, each a file
    (format binary, which clients and test generators read as a file part; FastAPI says only its media type, and
    that it may be null, which a multipart field cannot be). That one of them is needed is said in words: an anyOf
    of two `required` lists is read by test generators as two separate bodies."""
    for path in schema["paths"].values():
        body = path.get("post", {}).get("requestBody")
        if body is None or "multipart/form-data" not in body["content"]:
            continue
        body["required"] = True
        reference = body["content"]["multipart/form-data"]["schema"]["$ref"]
        fields = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
        image = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
        fields["properties"]["file"] = {**image, "title": "File", "description": "One image."}
        fields["properties"]["files"] = {  # no maxItems: more than the limit is a 413, not a request the schema forbids
            "type": "array", "items": image, "minItems": 1, "title": "Files",
            "description": f"Several images, predicted as one batch (at most {limits.max_files} files in a request)."}
        fields["description"] = "At least one image: as `file`, as `files`, or both (no image is a 400)."


def cam_overlays(loaded: LoadedModel, datas: list[bytes], names: list[str], limits: Limits) -> list[str]:
    """Each uploaded image with the Grad-CAM heatmap of its predicted class (multi-label: its most probable label)
    over it, as PNG data URLs."""
    from cnnlab.viz.gradcam import grad_cam

    images = torch.stack([decode_upload(name, data, loaded, limits) for name, data in zip(names, datas)])
    maps = grad_cam(loaded.model, loaded.preprocess(images), multi_label=loaded.record.multi_label).maps
    urls = []
    for name, data, heatmap in zip(names, datas, maps):
        try:
            urls.append(png_data_url(overlay(data, heatmap, loaded.input_shape)))
        except CnnlabError as err:  # it decoded once already, so not expected; a refusal all the same, not a 500
            raise UploadRefused(400, f"{name}: {getattr(err, 'reason', err)}") from None
    return urls


def environment_value(sources: str | Path | list[str | Path], options: ServeOptions) -> str:
    """The JSON a worker process reads from CNNLAB_SERVE to build the same app."""
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    return json.dumps({"sources": [str(source) for source in sources], "options": asdict(options)})


def app_from_environment() -> FastAPI:
    """The app named by CNNLAB_SERVE (uvicorn's factory for several worker processes)."""
    settings = json.loads(os.environ[ENVIRONMENT])
    return create_app(settings["sources"], ServeOptions(**settings["options"]))
