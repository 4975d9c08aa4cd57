"""The explainer app: a page at / (plain HTML, JS and CSS from the package) over JSON endpoints, all answered from
analysis.explainer: the layers, a run's test images (or uploaded ones), every layer's feature maps and the class
probabilities for one image, one unit explained, Grad-CAM of any class, the first layer's filters.

The model runs one request at a time (a lock): the hooks of a trace and of an input gradient must not interleave."""

import base64
import hashlib
import re
import threading
from collections import OrderedDict
from importlib.resources import files as package_files
from pathlib import Path

import torch
import torch.nn.functional as F
from fastapi import FastAPI, File, Query, UploadFile
from fastapi.responses import HTMLResponse, Response

from cnnlab import __version__, events
from cnnlab.analysis.explainer import Examples, Explainer, example_images, explained_model
from cnnlab.analysis.trace import Trace
from cnnlab.errors import CnnlabError, first_line
from cnnlab.serve.app import add_error_handlers, decode_upload, model_info
from cnnlab.serve.limits import BodyLimit, Limits, UploadRefused
from cnnlab.serve.overlay import DISPLAY_SIDE, blend, png_data_url

STATIC = {"explain.js": "text/javascript", "explain.css": "text/css"}
IMAGE_ID = re.compile(r"^(t\d{1,6}|u[0-9a-f]{16})$")
KEPT_UPLOADS = 32
KEPT_TRACES = 3  # a ResNet-18's trace at 224x224 holds ~60 MB of copies
THUMBNAIL_SIDE = 48


def _display(image: torch.Tensor, side: int = DISPLAY_SIDE) -> torch.Tensor:
    """A uint8 image (C, H, W) at the size the page shows it (longer side 224, or `side`), RGB."""
    height, width = image.shape[1:]
    scale = side / max(height, width)
    size = (round(height * scale), round(width * scale))
    shown = F.interpolate(image[None].float(), size=size, mode="nearest" if scale >= 1 else "area")[0]
    return shown.round().clamp(0, 255).to(torch.uint8).expand(3, -1, -1)


def quantised_maps(output: torch.Tensor, channels: int) -> dict:
    """The first `channels` maps of a (1, C, H, W) output as uint8 bytes (base64), scaled from the layer's min..max."""
    maps = output[0, :channels].float()
    low, high = float(maps.min()), float(maps.max())
    scaled = ((maps - low) / max(high - low, 1e-12) * 255).round().to(torch.uint8)
    return {"channels": int(maps.shape[0]), "total": int(output.shape[1]), "height": int(maps.shape[1]),
            "width": int(maps.shape[2]), "min": low, "max": high,
            "data": base64.b64encode(scaled.numpy().tobytes()).decode()}


class Images:
    """The images the page can pick (the run's test images, t0, t1, ...) and those uploaded (u + their hash), the
    latest uploads kept; and the traces of the latest images explained."""

    def __init__(self, explainer: Explainer) -> None:
        """Pick the run's test images; without them (its data moved away) the page takes uploads only."""
        try:
            self.examples = example_images(explainer.loaded)
        except CnnlabError as err:
            events.note(f"no test images to offer ({first_line(err)}): drop your own on the page", warning=True)
            self.examples = Examples(torch.empty(0, *explainer.loaded.input_shape, dtype=torch.uint8), [], [])
        self.uploads: OrderedDict[str, tuple[str, torch.Tensor]] = OrderedDict()
        self.traces: OrderedDict[str, Trace] = OrderedDict()

    def listing(self, classes: list[str]) -> list[dict]:
        """Every test image: its id, file name, true class and a small picture."""
        return [{"id": f"t{i}", "name": name, "class": classes[label] if label >= 0 else None,
                 "thumbnail": png_data_url(_display(image, min(THUMBNAIL_SIDE, max(image.shape[1:]))))}
                for i, (image, label, name) in enumerate(zip(self.examples.images, self.examples.labels,
                                                             self.examples.names))]

    def add(self, name: str, image: torch.Tensor) -> str:
        """Keep an uploaded image; its id."""
        key = "u" + hashlib.sha256(image.numpy().tobytes()).hexdigest()[:16]
        self.uploads[key] = (name, image)
        self.uploads.move_to_end(key)
        while len(self.uploads) > KEPT_UPLOADS:
            self.uploads.popitem(last=False)
        return key

    def get(self, key: str) -> torch.Tensor:
        """The image with this id; a 404 for one not here (an upload long gone, a test image that is not)."""
        if IMAGE_ID.match(key):
            if key.startswith("t") and int(key[1:]) < len(self.examples.images):
                return self.examples.images[int(key[1:])]
            if key in self.uploads:
                return self.uploads[key][1]
        raise UploadRefused(404, f"no image {key!r}: pick one from GET /images or upload it to POST /images")

    def trace(self, key: str, explainer: Explainer) -> Trace:
        """The trace of an image, kept for the next requests about it (clicks on its units)."""
        if key not in self.traces:
            self.traces[key] = explainer.trace(self.get(key))
            while len(self.traces) > KEPT_TRACES:
                self.traces.popitem(last=False)
        self.traces.move_to_end(key)
        return self.traces[key]


def create_explainer_app(source: str | Path, pretrained: bool = False, limits: Limits | None = None) -> FastAPI:
    """The explainer for a run directory or checkpoint, or a zoo model by name (random weights unless `pretrained`)."""
    limits = limits or Limits()
    explainer = Explainer(explained_model(source, pretrained))
    loaded = explainer.loaded
    images = Images(explainer)
    info = {**model_info(loaded), "random": bool(loaded.meta.get("random")), "layers": explainer.layers(),
            "blocks": explainer.blocks}
    listing = images.listing(loaded.classes)  # the same every time: made once
    lock = threading.Lock()
    app = FastAPI(title="cnnlab explain", version=__version__,
                  description=f"The layers, feature maps and units of {info['name']}, explained.")
    app.add_middleware(BodyLimit, limit=limits.request_bytes)
    add_error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        """The explainer page."""
        return (package_files("cnnlab.serve") / "static" / "explain.html").read_text()

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        """The page's script and style sheet."""
        if name not in STATIC:
            raise UploadRefused(404, f"no file {name!r}")
        return Response((package_files("cnnlab.serve") / "static" / name).read_text(), media_type=STATIC[name])

    @app.get("/model")
    def model() -> dict:
        """The model (as the server's GET /model says it), every layer as `cnnlab summary` lists it, its blocks."""
        return info

    @app.get("/images")
    def test_images() -> list[dict]:
        """The run's test images the page offers."""
        return listing

    @app.post("/images")
    async def upload(file: UploadFile | None = File(None, description="One image.")) -> dict:
        """Keep an image to explain; answers its id."""
        if file is None:
            raise UploadRefused(400, "no image: send it as the multipart field 'file'")
        name = file.filename or "upload"
        image = decode_upload(name, await file.read(limits.max_bytes + 1), loaded, limits)
        return {"id": images.add(name, image), "name": name}

    @app.get("/images/{key}/trace")
    def traced(key: str, channels: int = Query(16, ge=1, le=4096, description="Most maps per layer.")) -> dict:
        """The image as the model sees it, its class probabilities and every layer's feature maps."""
        with lock:
            result = images.trace(key, explainer)
        return {"id": key, "image": png_data_url(_display(images.get(key))),
                "probabilities": explainer.probabilities(result),
                "maps": {run.index: quantised_maps(run.output, channels) for run in result.runs if run.spatial}}

    @app.get("/images/{key}/unit")
    def unit(key: str, layer: int = Query(..., ge=0), channel: int = Query(..., ge=0), row: int = Query(..., ge=0),
             col: int = Query(..., ge=0)) -> dict:
        """One unit: its value, receptive fields (the theoretical box, the input gradient as a picture) and arithmetic."""
        with lock:
            explained, gradient = explainer.unit(images.trace(key, explainer), layer, channel, row, col)
        heat = gradient / gradient.max() if float(gradient.max()) > 0 else gradient
        explained["effective"]["image"] = png_data_url(blend(_display(images.get(key)), heat.sqrt(), 0.7))
        return explained

    @app.get("/images/{key}/gradcam")
    def gradcam(key: str, class_index: int = Query(..., ge=0, alias="class")) -> dict:
        """Grad-CAM of a class laid over the image."""
        with lock:
            heatmap, probability = explainer.gradcam(images.get(key), class_index)
        return {"class": loaded.classes[class_index], "probability": probability,
                "overlay": png_data_url(blend(_display(images.get(key)), heatmap))}

    name, tiles = explainer.filters()
    filtered = {"layer": name, "shape": list(explainer.model.get_submodule(name).weight.shape),
                "tiles": [png_data_url((tile * 255).round().to(torch.uint8)) for tile in tiles]}

    @app.get("/filters")
    def filters() -> dict:
        """The first conv layer's filters as pictures (grey is a zero weight; the page enlarges them)."""
        return filtered

    return app
