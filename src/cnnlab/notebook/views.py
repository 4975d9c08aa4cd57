"""What the Python API returns, each able to draw itself in a notebook cell: pictures as PNG, tables as HTML.

They stay plain values outside a notebook: a Picture is a PNG file, Metrics a list of rows, an Evaluation the dict
`cnnlab evaluate` writes to metrics.json, and so on.
"""

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from cnnlab.evaluation.report import inline_png, table
from cnnlab.notebook.reporter import epochs_html

if TYPE_CHECKING:
    from cnnlab.analysis.summary import Summary
    from cnnlab.train.lr_find import LRFind


FOLD_LAYERS = 40  # a summary of more layers shows them folded (ResNet-50 has 175)


class Picture:
    """A PNG file that a notebook shows as the picture."""

    def __init__(self, path: str | Path, title: str = "") -> None:
        """The file, and what it shows (its alt text)."""
        self.path, self.title = Path(path), title or Path(path).stem

    def _repr_png_(self) -> bytes:
        """The PNG's bytes."""
        return self.path.read_bytes()

    def html(self, width: int | None = None) -> str:
        """The picture inlined in an <img> (drawn `width` pixels wide when given)."""
        size = f' width="{width}"' if width else ""
        return f'<img src="{inline_png(self.path)}" alt="{escape(self.title)}"{size} style="max-width:100%">'

    def __fspath__(self) -> str:
        """Usable wherever a path is."""
        return str(self.path)

    def __repr__(self) -> str:
        """What a console shows."""
        return f"Picture({str(self.path)!r})"


class Pictures(list):
    """Several pictures, shown one under the other with their titles."""

    def _repr_html_(self) -> str:
        """Each picture under its title."""
        return "".join(f"<div><b>{escape(p.title)}</b><br>{p.html()}</div>" for p in self)


class Metrics(list):
    """A run's metrics, one dict per epoch (the rows of metrics.jsonl), shown as a table."""

    def column(self, key: str) -> list:
        """One metric over the epochs: `metrics.column("val_acc")`."""
        return [row.get(key) for row in self]

    @property
    def best(self) -> dict | None:
        """The epoch with the highest validation accuracy."""
        return max(self, key=lambda row: row["val_acc"], default=None)

    def _repr_html_(self) -> str:
        """The epochs as a table."""
        return epochs_html(self) if self else "<p>no epochs yet</p>"


def headline_html(values: dict[str, str]) -> str:
    """Headline numbers side by side, each under its name (inline styles: a notebook page has no stylesheet)."""
    box = "display:inline-block;border:1px solid #ddd;border-radius:6px;padding:.3rem .8rem;margin:.2rem"
    return "<div>" + "".join(f'<div style="{box}">{escape(k)}<br><b style="font-size:1.3em">{escape(v)}</b></div>'
                             for k, v in values.items()) + "</div>"


def percent(value: float) -> str:
    """A fraction as a percentage with two decimals."""
    return f"{value:.2%}"


class Evaluation(dict):
    """What `cnnlab evaluate` reports (top-1, top-5, per class, most confused, files), shown as headline
    numbers, the confusion matrix and the per-class table."""

    def _repr_html_(self) -> str:
        """Headline, confusion matrix, per-class precision/recall/F1, most confused pairs."""
        per_class = [[name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
                     for name, c in self["per_class"].items()]
        confused = [[m["true"], m["predicted"], m["count"]] for m in self["most_confused"]]
        matrix = Picture(self["files"]["confusion_matrix_png"], "confusion matrix")
        headline = {"top-1": percent(self["top1"]), "top-5": percent(self["top5"]),
                    "balanced accuracy": percent(self["balanced_accuracy"]), "images": f"{self['images']:,}"}
        return (headline_html(headline)
                + '<div style="display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start">'
                + f"<div>{matrix.html(width=480)}</div><div>"
                + table(["class", "precision", "recall", "F1", "support"], per_class, numeric={1, 2, 3, 4})
                + "<b>most confused</b>" + table(["true", "predicted", "count"], confused, numeric={2})
                + "</div></div>")


class Predictions(list):
    """One dict per image: its name and its top classes with probabilities, as `cnnlab predict` reports them;
    shown as a table with the images."""

    def __init__(self, rows: list[dict], images: torch.Tensor | None = None) -> None:
        """The rows, and the uint8 images they are about (for the thumbnails)."""
        super().__init__(rows)
        self.images = images

    def _repr_html_(self) -> str:
        """A row per image: thumbnail, name, top classes."""
        rows = []
        for index, row in enumerate(self):
            picture = thumbnail(self.images[index]) if self.images is not None else ""
            top = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in row["top"])
            rows.append(f"<tr><td>{picture}</td><td>{escape(str(row['file']))}</td><td>{escape(top)}</td></tr>")
        return f"<table><thead><tr><th></th><th>image</th><th>top classes</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"


def thumbnail(image: torch.Tensor, side: int = 48) -> str:
    """A uint8 (C, H, W) image as an inlined PNG <img>, drawn `side` pixels wide without smoothing."""
    import base64
    import io

    from PIL import Image

    pixels = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" width="{side}" style="image-rendering:pixelated">'


class Facts(dict):
    """A dict of results (an export's file and checks, a learning-rate finding) shown as a two-column table."""

    def _repr_html_(self) -> str:
        """Each top-level entry as a row; nested values as their JSON-like text."""
        return table(["", ""], [[key, value] for key, value in self.items()])


@dataclass(repr=False)
class CamView:
    """Grad-CAM for some images: the heatmaps in [0, 1] (N, H, W), the explained classes with their probabilities,
    the layer, and the picture of the images with their heatmaps laid over them."""

    maps: torch.Tensor
    classes: list[str]
    probabilities: list[float]
    layer: str
    picture: Picture

    def _repr_png_(self) -> bytes:
        """The picture."""
        return self.picture._repr_png_()

    def __repr__(self) -> str:
        """What a console shows (the heatmaps are in `maps`)."""
        return f"CamView({len(self.classes)} images at {self.layer}: {', '.join(self.classes)}; {self.picture.path})"


class Report(Picture):
    """A run's self-contained report.html: a notebook shows a link to it."""

    def _repr_png_(self) -> None:
        """Not a picture."""
        return

    def _repr_html_(self) -> str:
        """A link to the page, with its size."""
        return (f'<a href="{escape(self.path.as_posix())}" target="_blank">{escape(self.path.name)}</a> '
                f"({self.path.stat().st_size / 1024:,.0f} KiB, every picture inlined: open it in a browser)")

    def __repr__(self) -> str:
        """What a console shows."""
        return f"Report({str(self.path)!r})"


def summary_html(summary: "Summary") -> str:
    """A model summary as `cnnlab summary` shows it: the layer table, the totals, and a run's stages."""
    from cnnlab.analysis.layout import COLUMNS, row_cells, shape_text, stage_state, totals_lines

    layers = table(list(COLUMNS), [row_cells(row) for row in summary.layers], numeric={2, 3, 4, 5, 6})
    totals = table(["totals", ""], totals_lines(summary))
    stages = "" if summary.stages is None else table(
        ["stage", "params", "trainable", "state"],
        [[s["stage"], f"{s['params']:,}", f"{s['trainable']:,}", stage_state(s)] for s in summary.stages],
        numeric={1, 2})
    return (f"<b>{escape(summary.model)} on {shape_text(summary.input_shape)}</b>{totals}{stages}"
            f"<details{' open' if len(summary.layers) <= FOLD_LAYERS else ''}><summary>{len(summary.layers)} layers"
            f"</summary>{layers}</details>")


def lr_find_html(found: "LRFind") -> str:
    """The suggested rate and the loss curve."""
    curve = Picture(found.path / "lr_find.png", "loss against learning rate")
    return (f"<p>suggested lr <b>{found.suggestion:.2e}</b> (steepest descent; lowest loss at {found.minimum:.2e}, "
            f"a tenth of it is {found.minimum / 10:.2e}), {len(found.lrs)} steps</p>{curve.html()}")
