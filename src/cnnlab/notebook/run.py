"""A trained (or loaded) run as one object, for notebooks and scripts: its metrics, its model, and every verb of the
command line that takes a run (evaluate, predict, viz, export, report) as a method that returns something a notebook
cell shows."""

import io
from pathlib import Path

import torch

from cnnlab.analysis.summary import Summary, summarize_run
from cnnlab.errors import CnnlabError, SettingError
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.notebook.views import CamView, Evaluation, Facts, Metrics, Picture, Pictures, Predictions, Report
from cnnlab.run.directory import RunDir

Images = str | Path | torch.Tensor | object | list


class Run:
    """A run directory (or a zoo model with ImageNet weights, by name), loaded on first use."""

    def __init__(self, path: str | Path) -> None:
        """Refer to a run; the model loads when a method needs it."""
        self.path = Path(path)
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel:
        """The model with its record (classes, input, preprocessing), from the best checkpoint."""
        if self._loaded is None:
            self._loaded = load_model(self.path)
        return self._loaded

    @property
    def model(self) -> torch.nn.Module:
        """The PyTorch model, in eval mode."""
        return self.loaded.model

    @property
    def classes(self) -> list[str]:
        """Its class names, in the order of the logits."""
        return self.loaded.classes

    @property
    def is_run(self) -> bool:
        """Whether this is a run directory (not a zoo model loaded by name)."""
        return (self.path / "config.json").is_file()

    @property
    def metrics(self) -> Metrics:
        """The metrics of each epoch so far (metrics.jsonl)."""
        return Metrics(RunDir.open(self.path).read_metrics() if self.is_run else [])

    @property
    def viz(self) -> Path:
        """Where its pictures go: RUN/viz/."""
        folder = self.loaded.home / "viz"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def summary(self) -> Summary:
        """The model's layers on its own input, with what training left frozen."""
        return summarize_run(self.path)

    def samples(self, count: int = 8) -> tuple[torch.Tensor, list[str]]:
        """`count` images spread evenly over its evaluation split (uint8, N x C x H x W; splits are often sorted by
        class, so these show several classes), with their true classes (multi-label: their labels, joined)."""
        split = self.loaded.dataset().val
        if not hasattr(split, "images"):
            raise CnnlabError("this run's data streams from disk: pass image files instead")
        chosen = torch.linspace(0, len(split) - 1, min(count, len(split))).long()
        if self.loaded.record.multi_label:  # each image's labels, joined
            rows = split.labels[chosen].tolist()
            return split.images[chosen], [", ".join(c for c, y in zip(self.classes, row) if y) or "none" for row in rows]
        return split.images[chosen], [self.classes[i] for i in split.labels[chosen].tolist()]

    def evaluate(self, data: str | None = None, data_dir: str | None = None, tta: str = "none") -> Evaluation:
        """Top-1, top-5, per-class metrics, confusion matrix and top losses on its evaluation split (or `data`), as
        `cnnlab evaluate`; the files go to RUN/eval/."""
        from cnnlab.evaluation.evaluate import evaluate_on
        from cnnlab.settings.sections import check_value

        check_value("tta", tta)
        return Evaluation(evaluate_on(self.loaded, self.loaded.dataset(data, data_dir), tta=tta))

    def pixels(self, images: Images) -> tuple[torch.Tensor, list[str]]:
        """Images as the model takes them (uint8, its channels and size), with a name for each: files or folders,
        PIL images, or uint8 tensors (C, H, W) / (N, C, H, W) already at the model's input size."""
        items = images if isinstance(images, (list, tuple)) else [images]
        if all(isinstance(item, (str, Path)) for item in items):
            from cnnlab.viz.views import decoded

            pixels, files = decoded(self.loaded, list(items))
            return pixels, [f.name for f in files]
        if isinstance(images, torch.Tensor):
            batch = images[None] if images.dim() == 3 else images
            if batch.dim() != 4 or batch.dtype != torch.uint8 or tuple(batch.shape[1:]) != self.loaded.input_shape:
                raise CnnlabError(f"images must be uint8 tensors of shape {'x'.join(map(str, self.loaded.input_shape))}"
                                  f" (or N x that), got {images.dtype} {tuple(images.shape)}")
            return batch, [f"image {i}" for i in range(len(batch))]
        return torch.stack([self.pil_pixels(item) for item in items]), [f"image {i}" for i in range(len(items))]

    def pil_pixels(self, image: object) -> torch.Tensor:
        """A PIL image resized and cropped as a file would be."""
        from cnnlab.data.decode import decode_image

        if not hasattr(image, "save"):
            raise CnnlabError(f"cannot use a {type(image).__name__} as an image: pass files, PIL images or uint8 tensors")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return decode_image(buffer.getvalue(), self.loaded.record.in_chans, self.loaded.record.image_size)

    def predict(self, images: Images, top: int = 5) -> Predictions:
        """The top classes of each image, with probabilities."""
        from cnnlab.inference.predict import top_k

        if top < 1:
            raise SettingError("top", f"must be at least 1, got {top}")
        pixels, names = self.pixels(images)
        probabilities = self.loaded.logits(pixels).softmax(1)
        rows = [{"file": name, "top": top_k(row, self.classes, top)} for name, row in zip(names, probabilities)]
        return Predictions(rows, pixels)

    def gradcam(self, images: Images, target: str | None = None, layer: str | None = None,
                method: str = "gradcam") -> CamView:
        """Where the evidence for the predicted class (or `target`) lies in each image: Grad-CAM or Grad-CAM++ at
        `layer` (default: the last convolutional stage)."""
        from cnnlab.viz.views import gradcam_of

        pixels, names = self.pixels(images)
        path, rows, result = gradcam_of(self.loaded, pixels, names, layer, target, method, self.viz)
        return CamView(result.maps, [row["class"] for row in rows], [row["probability"] for row in rows],
                       result.layer, Picture(path, f"{method} at {result.layer}"))

    def filters(self, layer: str | None = None) -> Picture:
        """A conv layer's learned filters (default: the first conv layer)."""
        from cnnlab.viz.filters import save_filters

        name = (layer or "first-conv").replace(".", "-")
        return Picture(save_filters(self.model, self.viz / f"filters-{name}.png", layer), f"filters of {name}")

    def feature_maps(self, image: Images, layers: list[str] | str | None = None) -> Pictures:
        """What each layer (default: the last convolutional stage) outputs for one image, a picture per layer;
        `.maps` holds the tensors."""
        from cnnlab.viz.views import featuremaps_of

        pixels, names = self.pixels(image)
        found = featuremaps_of(self.loaded, pixels[0], names[0], [layers] if isinstance(layers, str) else layers,
                               self.viz)
        pictures = Pictures(Picture(path, f"{layer}: {values.shape[0]} channels {values.shape[1]}x{values.shape[2]}")
                            for layer, (path, values) in found.items())
        pictures.maps = {layer: values for layer, (_, values) in found.items()}
        return pictures

    def plot_curves(self, *others: "Run | str | Path") -> Picture:
        """Loss, accuracy and learning rate by epoch; other runs overlaid."""
        from cnnlab.viz.curves import save_curves

        runs = [self.path, *(other.path if isinstance(other, Run) else Path(other) for other in others)]
        return Picture(save_curves(runs, self.viz / "curves.png"), "training curves")

    def export(self, format: str = "onnx", out: str | Path | None = None, dynamic_batch: bool = False,
               opset: int | None = None) -> Facts:
        """The model as ONNX or TorchScript with its metadata beside it, checked against PyTorch, as `cnnlab export`."""
        from cnnlab.inference.export import export_model

        return Facts(export_model(self.path, format, out, dynamic_batch, opset))

    def report(self, out: str | Path | None = None) -> Report:
        """The run's one-page HTML report (RUN/report.html), as `cnnlab report`."""
        from cnnlab.evaluation.report import write_report

        return Report(write_report(self.path, out), "report")

    def _repr_html_(self) -> str:
        """The run's name, model and last epoch."""
        from html import escape

        last = self.metrics[-1] if self.metrics else None
        best = self.metrics.best
        line = (f"{len(self.metrics)} epochs, last val accuracy {last['val_acc']:.2%}, best {best['val_acc']:.2%}"
                if last else "no epochs")
        return (f"<b>{escape(self.path.name)}</b>: {escape(self.loaded.record.architecture)}, "
                f"{len(self.classes)} classes, input {'x'.join(map(str, self.loaded.input_shape))}; {line}")

    def __repr__(self) -> str:
        """What a console shows."""
        return f"Run({str(self.path)!r})"
