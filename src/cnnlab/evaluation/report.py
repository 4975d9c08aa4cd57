"""One self-contained HTML page per run: settings, model, curves, metrics, calibration, confusion, classes, top losses,
filters, Grad-CAM."""

import base64
import time
from html import escape
from pathlib import Path

from cnnlab.analysis.summary import summarize
from cnnlab.data.dataset import Dataset
from cnnlab.data.loader import batch_source
from cnnlab.evaluation.evaluate import evaluate_on
from cnnlab.inference.loaded import LoadedModel, load_model
from cnnlab.run.checkpoint import read_settings
from cnnlab.run.directory import RunDir
from cnnlab.settings.sections import READERS
from cnnlab.viz.curves import save_curves
from cnnlab.viz.filters import save_filters
from cnnlab.viz.gradcam import grad_cam
from cnnlab.viz.plots import save_heatmap_grid

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
.sub { color: #666; margin-top: .2rem; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; min-width: 8rem; }
.card b { display: block; font-size: 1.5rem; }
table { border-collapse: collapse; margin: .5rem 0; }
td, th { border-bottom: 1px solid #eee; padding: .2rem .7rem; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; }
figure { margin: 1rem 0; } figcaption { color: #666; }
"""


def inline_png(path: Path) -> str:
    """A PNG file as a data URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def table(headers: list[str], rows: list[list[object]], numeric: set[int] = frozenset()) -> str:
    """An HTML table; the columns in `numeric` are right-aligned."""
    def cell(tag: str, index: int, value: object) -> str:
        return f"<{tag}{' class=n' if index in numeric else ''}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(path: Path, caption: str) -> str:
    """An inlined picture with its caption."""
    return f'<figure><img src="{inline_png(path)}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'


def cards(values: dict[str, str]) -> str:
    """Headline numbers as a row of cards."""
    return '<div class="cards">' + "".join(
        f'<div class="card">{escape(k)}<b>{escape(v)}</b></div>' for k, v in values.items()) + "</div>"


def gradcam_samples(loaded: LoadedModel, dataset: Dataset, count: int, path: Path) -> Path:
    """Grad-CAM for the predicted class of `count` evaluation images drawn at random (seed 0), true label shown."""
    images, labels = next(iter(batch_source(dataset.split()[1], count, shuffle=True, seed=0)))
    multi = loaded.record.multi_label
    result = grad_cam(loaded.model, loaded.preprocess(images), None, None, "gradcam", multi_label=multi)
    names = loaded.classes

    def truth(label: int | list[int]) -> str:
        if not multi:
            return names[label]
        return ", ".join(names[i] for i, y in enumerate(label) if y) or "none"

    captions = [
        f"true {truth(t)}\n{'most probable' if multi else 'predicted'} {names[c]} {p:.0%}"
        for t, c, p in zip(labels.tolist(), result.classes.tolist(), result.probabilities.tolist())
    ]
    kind = "most probable label" if multi else "predicted class"
    return save_heatmap_grid(images, result.maps, captions, path, f"Grad-CAM at {result.layer}, {kind}")


def class_sections(result: dict, history: list[dict]) -> tuple[dict[str, str], list[str]]:
    """A single-label evaluation's headline numbers, and its sections: confusion, calibration, per class."""
    headline = {
        "top-1": f"{result['top1']:.2%}",
        "top-5": f"{result['top5']:.2%}",
        "balanced accuracy": f"{result['balanced_accuracy']:.2%}",
        "ECE": f"{result['ece']:.2%}",
        "epochs": str(len(history)),
        "best val accuracy": f"{max((r['val_acc'] for r in history), default=0):.2%}",
    }
    per_class = [[name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
                 for name, c in result["per_class"].items()]
    return headline, [
        "<h2>Confusion matrix</h2>",
        figure(Path(result["files"]["confusion_matrix_png"]), "rows: true class, columns: predicted class"),
        "<h2>Calibration</h2>",
        f"<p>On the {escape(result['split'])} split: expected calibration error {result['ece']:.2%} (15 bins), negative "
        f"log-likelihood {result['nll']:.4f}, Brier score {result['brier']:.4f}; temperature "
        f"{result['temperature']:.4g} ({'fitted by cnnlab calibrate' if result['temperature'] != 1 else 'none fitted'})."
        "</p>",
        figure(Path(result["files"]["reliability_png"]), "reliability: accuracy against confidence, per bin"),
        figure(Path(result["files"]["coverage_png"]), "abstaining: accuracy of the images answered at each minimum "
               "confidence"),
        "<h2>Per class</h2>",
        table(["class", "precision", "recall", "F1", "support"], per_class, numeric={1, 2, 3, 4}),
        "<h3>Most confused</h3>",
        table(["true", "predicted", "count"], [[m["true"], m["predicted"], m["count"]] for m in result["most_confused"]],
              numeric={2}),
    ]


def label_sections(result: dict, history: list[dict]) -> tuple[dict[str, str], list[str]]:
    """A multi-label evaluation's headline numbers, and its per-label section."""
    headline = {
        "mAP": f"{result['map']:.2%}",
        "micro F1": f"{result['micro_f1']:.2%}",
        "macro F1": f"{result['macro_f1']:.2%}",
        "exact match": f"{result['exact_match']:.2%}",
        "epochs": str(len(history)),
        "best val mAP": f"{max((r['val_map'] for r in history), default=0):.2%}",
    }
    rows = [[name, "-" if m["average_precision"] is None else f"{m['average_precision']:.3f}", f"{m['threshold']:.3f}",
             f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]]
            for name, m in result["per_label"].items()]
    tuned = " (tuned on this split: optimistic)" if result["thresholds_tuned_on_this_split"] else ""
    return headline, [
        "<h2>Per label</h2>",
        f"<p>Multi-label: each label is answered when its probability reaches its threshold, {result['thresholds']} "
        f"on the validation split{tuned}. At 0.5 for every label: micro F1 {result['at_0.5']['micro_f1']:.2%}, macro "
        f"F1 {result['at_0.5']['macro_f1']:.2%}.</p>",
        table(["label", "average precision", "threshold", "precision", "recall", "F1", "images"], rows,
              numeric={1, 2, 3, 4, 5, 6}),
    ]


def summary_rows(loaded: LoadedModel) -> tuple[list[list[object]], str]:
    """The model's layer table (name, type, output, parameters, FLOPs, receptive field) and a totals line."""
    summary = summarize(loaded.model, loaded.input_shape, name=loaded.record.architecture)
    rows = [
        [r.name, r.type, "x".join(map(str, r.output_shape or ())), f"{r.params:,}", f"{r.flops:,}",
         "x".join(map(str, r.receptive_field)) if isinstance(r.receptive_field, tuple) else (r.receptive_field or "")]
        for r in summary.layers
    ]
    totals = summary.totals
    return rows, (f"{totals.params:,} parameters ({totals.trainable_params:,} trainable), "
                  f"{totals.flops / 1e6:,.1f} MFLOPs per image at {'x'.join(map(str, loaded.input_shape))}")


def write_report(run: str | Path, out: str | Path | None = None, samples: int = 8, workers: int = READERS) -> Path:
    """Evaluate a run and write its report: one HTML file with every picture inlined (default RUN/report.html)."""
    loaded = load_model(run)
    run_dir = RunDir.open(loaded.home)
    config, history = run_dir.read_config(), run_dir.read_metrics()
    assets = run_dir.path / "report"
    assets.mkdir(exist_ok=True)
    dataset = loaded.dataset()
    result = evaluate_on(loaded, dataset, assets, workers=workers)
    layer_rows, totals = summary_rows(loaded)
    headline, metric_sections = (label_sections if result.get("multi_label") else class_sections)(result, history)
    headline["training time"] = f"{sum(r['epoch_time'] for r in history):.0f} s"
    skipped = config.get("skipped", [])
    sections = [
        f"<h1>{escape(run_dir.path.name)}</h1>",
        f'<p class="sub">{escape(loaded.record.architecture)} on {escape(dataset.name)}: {len(dataset.train)} train / '
        f"{result['images']} evaluation images, {len(loaded.classes)} "
        f"{'labels (multi-label)' if loaded.record.multi_label else 'classes'}; report written "
        f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
        cards(headline),
        "<h2>Training curves</h2>",
        figure(save_curves([run_dir.path], assets / "curves.png"), "loss, accuracy and learning rate by epoch"),
        *metric_sections,
        "<h2>Top losses</h2>",
        figure(Path(result["files"]["top_losses_png"]), "the evaluation images the model got most wrong"),
        "<h2>First-layer filters</h2>",
        figure(save_filters(loaded.model, assets / "filters.png"), "grey is a zero weight"),
        "<h2>Grad-CAM on evaluation images</h2>",
        figure(gradcam_samples(loaded, dataset, samples, assets / "gradcam.png"),
               "where the evidence for the most probable label lies" if loaded.record.multi_label
               else "where the evidence for the predicted class lies"),
        "<h2>Model</h2>",
        f"<p>{escape(totals)}</p>",
        "<details><summary>layer by layer</summary>"
        + table(["layer", "type", "output", "parameters", "FLOPs", "receptive field"], layer_rows, numeric={3, 4})
        + "</details>",
        "<h2>Settings</h2>",
        table(["setting", "value"], [[k, v] for k, v in read_settings(config, str(run_dir.path)).flat().items()]),
        f"<h2>Skipped files ({len(skipped)})</h2>",
        table(["file", "reason"], skipped) if skipped else "<p>none</p>",
    ]
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<link rel="icon" href="data:,"><title>{escape(run_dir.path.name)}: cnnlab report</title>'
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )
    path = Path(out) if out else run_dir.path / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

