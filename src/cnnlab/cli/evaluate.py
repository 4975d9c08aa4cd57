"""`cnnlab evaluate` and `cnnlab predict`: a trained run on a dataset, or on image files."""

import csv
import json
import sys
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from cnnlab.cli.console import console
from cnnlab.cli.settings import setting_option

EVALUATE_EPILOG = (
    "Examples:\n\n  cnnlab evaluate runs/simplecnn-sample-20261126-170000\n\n  cnnlab evaluate RUN --data ~/cifar10 --json"
    "\n\n  cnnlab evaluate RUN --tta shift"
)
PREDICT_EPILOG = (
    "Examples:\n\n  cnnlab predict runs/my-run cat.jpg dog.png\n\n  cnnlab predict runs/my-run photos/ --top 3 --csv > predictions.csv"
    "\n\n  cnnlab predict runs/my-run/export/model.onnx cat.jpg"
    "\n\n  cnnlab predict runs/my-run photos/ --min-confidence 0.8   # \"unsure\" below 80%"
)


def evaluate(
    run: str = typer.Argument(..., help="Run directory or checkpoint file."),
    data: Optional[str] = typer.Option(None, help="Dataset to evaluate on (default: the run's own)."),
    data_dir: Optional[str] = typer.Option(None, help="Where a named dataset's files are."),
    out: Optional[str] = typer.Option(None, help="Folder for the PNG/JSON files (default: RUN/eval)."),
    tta: str = setting_option("tta"),
    split: Optional[str] = typer.Option(None, help="val or test, where the run has both (default: test)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Top-1, top-5, per-class precision/recall/F1, confusion matrix, top losses, calibration (ECE, NLL, Brier,
    reliability diagram) and the accuracy/coverage curve of a trained run; for a multi-label run, per-label average
    precision, mAP, and precision/recall/F1 at the per-label thresholds tuned on validation."""
    from cnnlab.evaluation.evaluate import evaluate_run  # torch loads only when the verb runs

    result = evaluate_run(run, data=data, data_dir=data_dir, out=out, tta=tta, split=split)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    views = f", test-time augmentation: {tta}" if tta != "none" else ""
    if result.get("multi_label"):
        show_labels(result, views)
        return
    table = Table(title=f"{result['data']} {result['split']} split: {result['images']} images{views}")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, m in result["per_class"].items():
        table.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    console.print(table)
    console.print(
        f"top-1 {result['top1']:.2%}   top-5 {result['top5']:.2%}   balanced accuracy {result['balanced_accuracy']:.2%}"
    )
    console.print(f"calibration: ECE {result['ece']:.2%} (15 bins)   NLL {result['nll']:.4f}   "
                  f"Brier {result['brier']:.4f}   temperature {result['temperature']:.4g}")
    curve = "   ".join(f"≥{r['min_confidence']:.2f}: {r['coverage']:.0%} answered, {r['accuracy']:.1%} right"
                       for r in (result["coverage"][i] for i in (0, 10, 14, 18)) if r["accuracy"] is not None)
    console.print(f"abstaining below a confidence: {curve}")
    pairs = ", ".join(f"{p['true']}→{p['predicted']} ({p['count']})" for p in result["most_confused"])
    console.print(f"most confused: {pairs}")
    for name, path in result["files"].items():
        console.print(f"{name}: {path}")


def show_labels(result: dict, views: str) -> None:
    """A multi-label evaluation: a row per label (AP, threshold, precision/recall/F1 there), the means, the files."""
    table = Table(title=f"{result['data']} {result['split']} split: {result['images']} images, multi-label{views}")
    for column in ("label", "AP", "threshold", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for name, m in result["per_label"].items():
        ap = "-" if m["average_precision"] is None else f"{m['average_precision']:.3f}"
        table.add_row(name, ap, f"{m['threshold']:.3f}", f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                      f"{m['f1']:.3f}", str(m["support"]))
    console.print(table)
    half = result["at_0.5"]
    console.print(f"mAP {result['map']:.2%}   micro F1 {result['micro_f1']:.2%}   macro F1 {result['macro_f1']:.2%}   "
                  f"exact match {result['exact_match']:.2%}   (thresholds {result['thresholds']}; at 0.5: micro F1 "
                  f"{half['micro_f1']:.2%}, macro F1 {half['macro_f1']:.2%})")
    if result["thresholds_tuned_on_this_split"]:
        console.print("[yellow]note:[/] the thresholds were tuned on this split (the one training validated on), so "
                      "its F1 is optimistic; train with --holdout to keep a test split apart")
    for name, path in result["files"].items():
        console.print(f"{name}: {path}")


def predict(
    run: str = typer.Argument(..., help="Run directory, checkpoint file, or exported model (.onnx, .torchscript.pt)."),
    images: list[str] = typer.Argument(..., help="Image files or folders."),
    top: int = typer.Option(5, help="How many classes per image."),
    min_confidence: float = typer.Option(0.0, help="Answer \"unsure\" (with the top classes) when the top "
                                         "probability is below this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV: file, rank, class, probability, answer."),
) -> None:
    """Top-k classes with probabilities for each image, through the run's own preprocessing; for a multi-label run,
    the labels at or above their thresholds. Files that cannot be read are named on stderr, the others predicted;
    the exit code is then 1."""
    from cnnlab.inference.exported import load_any  # torch loads only when the verb runs
    from cnnlab.inference.predict import predict_files

    loaded = load_any(run)
    results, skipped = predict_files(loaded, images, top=top, min_confidence=min_confidence)
    for path, reason in skipped:
        console.print(f"[yellow]skipped[/] {escape(path)}: {escape(reason)}")
    if as_json:
        print(json.dumps({"predictions": results, "skipped": [{"file": p, "reason": r} for p, r in skipped]}, indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["file", "rank", "class", "probability", "answer"])
        for item in results:
            for rank, guess in enumerate(item["top"], 1):
                writer.writerow([item["file"], rank, guess["class"], guess["probability"], item["answer"]])
    elif loaded.record.multi_label:
        for item in results:
            labels = "  ".join(f"{g['class']} {g['probability']:.1%}" for g in item["labels"]) or "no label"
            below = "  ".join(f"{g['class']} {g['probability']:.1%}" for g in item["top"] if g not in item["labels"])
            print(f"{item['file']}: {labels}" + (f"   (below their thresholds: {below})" if below else ""))
    else:
        for item in results:
            guesses = "  ".join(f"{g['class']} {g['probability']:.1%}" for g in item["top"])
            unsure = "unsure: " if item["answer"] != item["top"][0]["class"] else ""
            print(f"{item['file']}: {unsure}{guesses}")
    if skipped:
        console.print(f"[yellow]{len(skipped)} of {len(skipped) + len(results)} files could not be predicted[/]")
        raise typer.Exit(1)
