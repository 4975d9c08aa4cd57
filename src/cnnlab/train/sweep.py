"""Sweeps: train several models on the same data, settings and seeds, then tabulate and plot them.

A sweep is one folder: sweep.json (the plan), runs/<model>-seed<N>/ (ordinary run directories, each with a
result.json once finished) and compare.{md,csv,json,png}. Running the same sweep again skips finished runs and
resumes an interrupted one from its last checkpoint.
"""

import csv
import hashlib
import json
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from cnnlab import events
from cnnlab.analysis.summary import summarize_model
from cnnlab.errors import SettingError
from cnnlab.models.spec import format_value, parse_spec
from cnnlab.run.checkpoint import read_record
from cnnlab.run.directory import RunDir
from cnnlab.settings import resolve
from cnnlab.train.fit import fit
from cnnlab.train.trainer import TrainResult
from cnnlab.viz.plots import save_tradeoff

COLUMNS = ("model", "params", "mflops", "seeds", "acc_mean", "acc_std", "best_acc_mean", "train_s_mean",
           "images_per_s_mean")


@dataclass(frozen=True)
class Sweep:
    """What a sweep trains: model specs, seeds and the training settings every run shares."""

    models: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: dict

    def to_dict(self) -> dict:
        """The plan as JSON-ready values."""
        return {"models": list(self.models), "seeds": list(self.seeds), "settings": self.settings}

    @property
    def digest(self) -> str:
        """A short fingerprint of the plan: the same command names the same sweep folder."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]


def split_models(text: str) -> list[str]:
    """`simplecnn:pooling=strided,se=true,lenet5` → the specs; an item with `=` but no `:` continues the last spec."""
    specs: list[str] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" in item and ":" not in item and specs:
            specs[-1] += "," + item
        else:
            specs.append(item)
    return specs


def run_name(model: str, seed: int) -> str:
    """A folder name for one model spec and seed: `simplecnn-pooling-strided-seed0`."""
    name, variant = parse_spec(model)
    parts = [name, *(part for key, value in variant.items() for part in (key, format_value(value)))]
    return "-".join("".join(c if c.isalnum() or c in "_." else "_" for c in part) for part in parts) + f"-seed{seed}"


def open_plan(plan: dict, folder: Path, file: str = "sweep.json", what: str = "a sweep with other models, seeds or "
              "settings") -> None:
    """Create a folder of several runs with its plan, or check that an existing one holds the same plan."""
    plan_file = folder / file
    if plan_file.exists():
        existing = json.loads(plan_file.read_text())
        if existing != plan:
            raise SettingError("name", f"{folder} holds {what}: choose another")
        return
    folder.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan, indent=2) + "\n")


def fit_or_resume(folder: Path, settings: dict) -> TrainResult:
    """Train the run `folder` (under its parent) with `settings`, or resume it from its last checkpoint when an
    earlier attempt was interrupted after an epoch."""
    if (folder / "checkpoints" / "last.safetensors").exists():
        return fit(resume=folder)
    shutil.rmtree(folder, ignore_errors=True)  # started but no epoch finished: nothing to keep
    return fit(**{**settings, "out": str(folder.parent), "name": folder.name})


def train_one(sweep: Sweep, model: str, seed: int, runs: Path) -> dict:
    """Train (or resume) one model and seed of a sweep; its result.json holds what the table needs."""
    folder = runs / run_name(model, seed)
    result = fit_or_resume(folder, {**sweep.settings, "model": model, "seed": seed})
    history = RunDir.open(folder).read_metrics()
    record = read_record(RunDir.open(folder).read_config(), str(folder))
    summary = summarize_model(model, record.input_shape, record.num_classes)
    row = {
        "model": model,
        "seed": seed,
        "params": summary.totals.params,
        "flops": summary.totals.flops,
        "epochs": result.epochs,
        "final_acc": result.final_accuracy,
        "best_acc": result.best_accuracy,
        "train_s": sum(r["epoch_time"] for r in history),
        "images_per_s": statistics.fmean(r["images_per_s"] for r in history),
    }
    (folder / "result.json").write_text(json.dumps(row, indent=2) + "\n")
    return row


def summarize_runs(models: tuple[str, ...], rows: list[dict]) -> list[dict]:
    """One line per model: size, cost, accuracy mean and sample standard deviation over seeds, time, speed."""
    table = []
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        accuracies = [r["final_acc"] for r in mine]
        table.append({
            "model": model,
            "params": mine[0]["params"],
            "mflops": round(mine[0]["flops"] / 1e6, 2),
            "seeds": len(mine),
            "acc_mean": statistics.fmean(accuracies),
            "acc_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "best_acc_mean": statistics.fmean(r["best_acc"] for r in mine),
            "train_s_mean": statistics.fmean(r["train_s"] for r in mine),
            "images_per_s_mean": statistics.fmean(r["images_per_s"] for r in mine),
        })
    return table


def markdown(table: list[dict], sweep: Sweep) -> str:
    """The table as Markdown, accuracy as mean ± std in percent, with the shared settings under it."""
    lines = [
        "| model | params | MFLOPs/image | accuracy (mean ± std) | best epoch acc | train time | images/s |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in table:
        lines.append(
            f"| `{row['model']}` | {row['params']:,} | {row['mflops']:,} | "
            f"{100 * row['acc_mean']:.2f} ± {100 * row['acc_std']:.2f} | {100 * row['best_acc_mean']:.2f} | "
            f"{row['train_s_mean']:.0f} s | {row['images_per_s_mean']:,.0f} |"
        )
    settings = ", ".join(f"{k}={v}" for k, v in sweep.settings.items())
    lines.append(f"\nSeeds {', '.join(map(str, sweep.seeds))}; accuracy is the final epoch's on the evaluation split; "
                 f"train time and images/s are per run. Settings: {settings or 'defaults'}.")
    return "\n".join(lines) + "\n"


def write_tables(folder: Path, sweep: Sweep, rows: list[dict]) -> dict[str, Path]:
    """compare.md, compare.csv, compare.json (per-model table and per-run rows) and compare.png in the sweep folder."""
    table = summarize_runs(sweep.models, rows)
    files = {kind: folder / f"compare.{kind}" for kind in ("md", "csv", "json", "png")}
    files["md"].write_text(markdown(table, sweep))
    with open(files["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    files["json"].write_text(json.dumps({"sweep": sweep.to_dict(), "table": table, "runs": rows}, indent=2) + "\n")
    save_tradeoff(
        [r["params"] for r in table], [r["acc_mean"] for r in table], [r["acc_std"] for r in table],
        [r["model"] for r in table], files["png"], f"{len(sweep.seeds)} seeds, {sweep.settings.get('epochs', '?')} epochs",
    )
    return files


def run_sweep(models: list[str], seeds: int = 3, first_seed: int = 0, out: str = "runs", name: str | None = None,
              **settings: object) -> tuple[Path, dict[str, Path]]:
    """Train every model for every seed with the same settings (resuming a sweep), then write the comparison."""
    if not models:
        raise SettingError("models", "needs at least one model spec, e.g. simplecnn,lenet5")
    if seeds < 1:
        raise SettingError("seeds", "must be at least 1")
    settings = {k: v for k, v in settings.items() if v is not None}
    resolve(**settings, model=models[0])  # refuse bad settings before the first run starts
    sweep = Sweep(tuple(models), tuple(range(first_seed, first_seed + seeds)), settings)
    folder = Path(out) / (name or f"compare-{sweep.digest}")
    open_plan(sweep.to_dict(), folder)
    jobs = [(m, s) for m in sweep.models for s in sweep.seeds]
    rows, started, trained = [], time.perf_counter(), 0
    for index, (model, seed) in enumerate(jobs, 1):
        done = folder / "runs" / run_name(model, seed) / "result.json"
        if done.exists():
            rows.append(json.loads(done.read_text()))
            events.note(f"[{index}/{len(jobs)}] {model} seed {seed}: finished before, skipped")
            continue
        events.note(f"[{index}/{len(jobs)}] {model} seed {seed}")
        rows.append(train_one(sweep, model, seed, folder / "runs"))
        trained += 1
        elapsed = time.perf_counter() - started
        left = elapsed / trained * (len(jobs) - index)
        events.note(f"[{index}/{len(jobs)}] {model} seed {seed}: accuracy {rows[-1]['final_acc']:.2%}; "
                      f"sweep {elapsed / 60:.1f} min so far, about {left / 60:.1f} min left")
    return folder, write_tables(folder, sweep, rows)
