"""Cross-validation: K runs with the same settings, run k validating on fold k of a stratified K-fold of the training
images (the same seed, so the folds are one partition) while the data's test split stays out of every run; then each
metric's mean ± standard deviation over the folds.

A cross-validation is one folder: plan.json, runs/fold<k>/ (ordinary run directories, each with a
result.json once finished) and cv.{md,csv,json}. Running the same command again skips finished folds and resumes an
interrupted one from its last checkpoint.
"""

import csv
import hashlib
import json
import statistics
from pathlib import Path

from cnnlab import events
from cnnlab.data.loader import batch_source
from cnnlab.errors import SettingError
from cnnlab.evaluation.calibration import calibration_metrics
from cnnlab.evaluation.evaluate import logits_and_worst
from cnnlab.evaluation.metrics import class_report
from cnnlab.inference.loaded import load_model
from cnnlab.run.directory import RunDir
from cnnlab.settings import resolve
from cnnlab.train.sweep import fit_or_resume, open_plan

METRICS = ("top1", "top5", "balanced_accuracy", "ece", "nll", "brier", "best_val_acc", "train_s")
PERCENT = {"top1", "top5", "balanced_accuracy", "ece", "best_val_acc"}


def fold_metrics(run: Path) -> dict[str, float]:
    """A finished fold's metrics on its held-out fold: accuracy, calibration, best epoch's accuracy, time."""
    loaded = load_model(run)
    logits, labels, _ = logits_and_worst(loaded, batch_source(loaded.dataset().val, 256), 0)
    report = class_report(logits, labels)
    history = RunDir.open(run).read_metrics()
    return {"images": len(labels), "top1": report.accuracy, "top5": report.top5,
            "balanced_accuracy": report.balanced_accuracy, **calibration_metrics(logits, labels),
            "best_val_acc": max(r["val_acc"] for r in history), "train_s": sum(r["epoch_time"] for r in history)}


def summarize_folds(rows: list[dict]) -> list[dict]:
    """Per metric: mean, sample standard deviation and every fold's value."""
    return [{"metric": name, "mean": statistics.fmean(r[name] for r in rows),
             "std": statistics.stdev(r[name] for r in rows) if len(rows) > 1 else 0.0,
             "folds": [r[name] for r in rows]} for name in METRICS]


def markdown(table: list[dict], folds: int, settings: dict) -> str:
    """The table as Markdown: percentages for accuracies and ECE, the shared settings under it."""
    lines = ["| metric | mean ± std | " + " | ".join(f"fold {k}" for k in range(1, folds + 1)) + " |",
             "|---|--:|" + "--:|" * folds]
    for row in table:
        scale, unit = (100, "%") if row["metric"] in PERCENT else (1, "")
        digits = 2 if unit or row["metric"] == "train_s" else 4
        cells = " | ".join(f"{scale * v:.{digits}f}" for v in row["folds"])
        lines.append(f"| {row['metric']} | {scale * row['mean']:.{digits}f} ± {scale * row['std']:.{digits}f}{unit} "
                     f"| {cells} |")
    shown = ", ".join(f"{k}={v}" for k, v in settings.items())
    lines.append(f"\n{folds}-fold stratified cross-validation of the training images; each metric is on the fold the "
                 f"run held out (the test split is used by none). Settings: {shown or 'defaults'}.")
    return "\n".join(lines) + "\n"


def write_tables(folder: Path, folds: int, settings: dict, rows: list[dict]) -> dict[str, Path]:
    """cv.md, cv.csv (one row per metric) and cv.json (the table and each fold's row)."""
    table = summarize_folds(rows)
    files = {kind: folder / f"cv.{kind}" for kind in ("md", "csv", "json")}
    files["md"].write_text(markdown(table, folds, settings))
    with open(files["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "mean", "std", *(f"fold{k}" for k in range(1, folds + 1))])
        writer.writerows([row["metric"], row["mean"], row["std"], *row["folds"]] for row in table)
    files["json"].write_text(json.dumps({"folds": folds, "settings": settings, "table": table, "runs": rows},
                                        indent=2) + "\n")
    return files


def cross_validate(folds: int, out: str = "runs", name: str | None = None, **settings: object
                   ) -> tuple[Path, dict[str, Path]]:
    """Train one run per fold of a stratified `folds`-fold split of the training images (resuming an interrupted
    cross-validation), then write the mean ± std of every metric."""
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= 100:
        raise SettingError("folds", f"must be a whole number from 2 to 100, got {folds!r}")
    settings = {k: v for k, v in settings.items() if v is not None}
    for own in ("fold", "holdout"):
        if own in settings:
            raise SettingError(own, "is chosen by the cross-validation (`folds`): leave it out")
    if settings.get("multi_label") or settings.get("label_separator"):
        raise SettingError("folds", "reports single-label metrics (accuracy, calibration); multi-label data "
                           "(`label_separator`, `multi_label`) trains one run, validating with `holdout` or `fold`")
    resolve(**settings, fold=f"1/{folds}")  # refuse bad settings before the first fold starts
    plan = {"folds": folds, "settings": settings}
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:8]
    folder = Path(out) / (name or f"cv{folds}-{digest}")
    open_plan(plan, folder, "plan.json", "a cross-validation with other folds or settings")
    rows = []
    for k in range(1, folds + 1):
        run = folder / "runs" / f"fold{k}"
        done = run / "result.json"
        if done.exists():
            rows.append(json.loads(done.read_text()))
            events.note(f"[fold {k}/{folds}] finished before, skipped")
            continue
        events.note(f"[fold {k}/{folds}]")
        fit_or_resume(run, {**settings, "fold": f"{k}/{folds}"})
        rows.append({"fold": k, **fold_metrics(run)})
        done.write_text(json.dumps(rows[-1], indent=2) + "\n")
        events.note(f"[fold {k}/{folds}] accuracy {rows[-1]['top1']:.2%} on its {rows[-1]['images']} held-out images")
    return folder, write_tables(folder, folds, settings, rows)
