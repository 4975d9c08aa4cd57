"""Benchmark: the BatchNorm statistics of a pretrained network while it fine-tunes on a few hundred images, fixed
(`--batchnorm fixed`, auto's choice with pretrained weights) against each batch's (`--batchnorm batch`, PyTorch's
default), everything else as `cnnlab train --data FOLDER` chooses it for photos on a CPU (EfficientNet-Lite0 from
ImageNet at 160 px, the head alone for an epoch, then the last stages: cnnlab.train.defaults), whatever the images'
own size (CIFAR-10's 32 px are upscaled).

For each dataset and seed: a seeded draw of --per-class training images per class and 20 more as validation (as
bench/imagenet_transfer.py draws them), trained both ways with that seed, scored with the last epoch's weights on the
test split (or a fixed stratified sample of it, --test-per-class), in fp32. The JSON has each run's accuracy, its
wall time and what auto chose, and the paired difference per seed.

    python bench/batchnorm_fine_tune.py --dataset cifar10=/tmp/cifarL --test-per-class 200 \
        --dataset elpv=/tmp/elpv/tree
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from imagenet_transfer import TestSet, draw, link

from cnnlab.run.directory import RunDir
from cnnlab.train.defaults import CPU_SIZE, TRANSFER, TRANSFER_STEPS
from cnnlab.train.fit import fit

WAYS = ("batch", "fixed")
PHOTOS = dict(model=TRANSFER, pretrained="imagenet", image_size=CPU_SIZE, **TRANSFER_STEPS)  # auto's, on a CPU
CHOSEN = (*PHOTOS, "batchnorm")


def test_sample(data: Path, per_class: int | None, into: Path) -> Path:
    """A folder whose test/ holds `per_class` images of each class of data/test (the same for every seed and way),
    or data itself for the whole split."""
    if per_class is None:
        return data
    rng = random.Random(0)
    for folder in sorted((data / "test").iterdir()):
        files = sorted(folder.iterdir())
        rng.shuffle(files)
        link(files[:per_class], into / "test" / folder.name)
    return into


def trained_with(run: Path) -> dict:
    """What the run trained with, of the settings that make the two ways."""
    settings = json.loads((run / "config.json").read_text())["settings"]
    flat = {key: value for section in settings.values() if isinstance(section, dict) for key, value in section.items()}
    return {key: flat.get(key) for key in CHOSEN}


def bench_dataset(name: str, data: Path, args: argparse.Namespace, work: Path) -> dict:
    """Both ways for every seed on one dataset."""
    test = TestSet(test_sample(data, args.test_per_class, work / f"{name}-test"))
    runs: dict[str, list[dict]] = {way: [] for way in WAYS}
    for seed in range(args.seeds):
        folder = draw(data, args.per_class, seed, work / f"{name}-seed{seed}")
        for way in WAYS:
            started = time.perf_counter()
            result = fit(data=str(folder), out=str(work / "runs"), name=f"{name}-{way}-seed{seed}", seed=seed,
                         batchnorm=way, **PHOTOS)
            wall = time.perf_counter() - started
            rows = RunDir(result.run_dir).read_metrics()
            row = {"run": str(result.run_dir), "wall_seconds": round(wall, 1), "val_acc": rows[-1]["val_acc"],
                   "settings": trained_with(Path(result.run_dir))} | test.score(result.run_dir, torch.float32, frozen=False)
            runs[way].append(row)
            print(json.dumps({"dataset": name, "way": way, "seed": seed, "test_acc": row["test_acc"],
                              "wall_seconds": row["wall_seconds"]}), flush=True)
    summary = {way: {"test_acc_mean": statistics.mean(r["test_acc"] for r in rows),
                     "test_acc_std": statistics.stdev(r["test_acc"] for r in rows) if len(rows) > 1 else 0.0,
                     "test_balanced_acc_mean": statistics.mean(r["test_balanced_acc"] for r in rows)}
               for way, rows in runs.items()}
    gains = [f["test_acc"] - b["test_acc"] for b, f in zip(runs["batch"], runs["fixed"])]
    return {"data": str(data), "test_images": len(test.files), "per_class": args.per_class, "summary": summary,
            "fixed_minus_batch_per_seed": gains, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True, metavar="NAME=FOLDER",
                        help="an image folder with train/ and test/ class folders (repeat for several)")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--test-per-class", type=int, default=None, help="score on this many test images per class "
                        "(default: the whole test split)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/batchnorm_fine_tune.json"))
    args = parser.parse_args()
    report: dict = {"machine": {"platform": platform.platform(), "torch": torch.__version__,
                                "cpu_threads": os.cpu_count(), "load_average_at_start": os.getloadavg()},
                    "command": " ".join(["python", *sys.argv]), "datasets": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("CNNLAB_CACHE", str(Path(scratch) / "cache"))
        for spec in args.dataset:
            name, folder = spec.split("=", 1)
            report["datasets"][name] = bench_dataset(name, Path(folder), args, Path(scratch))
            report["wall_seconds"] = round(time.perf_counter() - started, 1)
            report["load_average_at_end"] = os.getloadavg()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({name: r["summary"] for name, r in report["datasets"].items()}, indent=2))


if __name__ == "__main__":
    main()
