"""Head-only epochs on cached backbone features against the same epochs through the frozen backbone, side by side in
one invocation: EfficientNet-Lite0 with its ImageNet weights (the `weights` extra), backbone frozen, no augmentation,
on CIFAR-10 (the shared JPEG copy) with `--per-class` training and test images per class, upscaled. Writes
bench/results/frozen_features.json.

    tar -xzf ../shared/datasets/cifar10-jpeg.tar.gz -C /tmp/cifar10
    python bench/frozen_features.py --cifar /tmp/cifar10
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from cnnlab import events
from cnnlab.run.directory import RunDir
from cnnlab.train.fit import fit


class Notes(events.Reporter):
    """Keeps the notes a run says (which route its epochs took)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, event: events.Event) -> None:
        if isinstance(event, events.Note):
            self.lines.append(event.line())


def subset(cifar: Path, per_class: int, into: Path) -> Path:
    """A train/test folder of the first `per_class` images of each class of each split (links, not copies)."""
    for split in ("train", "test"):
        for folder in sorted((cifar / split).iterdir()):
            target = into / split / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for image in sorted(folder.iterdir())[:per_class]:
                (target / image.name).symlink_to(image.resolve())
    return into


def timed_run(data: Path, out: Path, cached: bool, args: argparse.Namespace) -> dict:
    """One training run; its epochs' times and accuracies, and what the log said about the route."""
    notes = Notes()
    started = time.perf_counter()
    with events.reporting(notes):
        result = fit(data=str(data), model="efficientnet_lite0", pretrained="imagenet", freeze="backbone", flip=False,
                     crop_padding=0, image_size=args.size, epochs=args.epochs, batch_size=args.batch,
                     cache_features=cached, out=str(out), name="cached" if cached else "through-backbone",
                     seed=args.seed)
    rows = RunDir(result.run_dir).read_metrics()
    epochs = [row["epoch_time"] + row["eval_time"] for row in rows]
    return {"cache_features": cached, "wall_seconds": time.perf_counter() - started,
            "epoch_seconds": epochs, "median_epoch_seconds": statistics.median(epochs),
            "val_acc": [row["val_acc"] for row in rows], "route": [n for n in notes.lines if "frozen backbone" in n]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar", type=Path, required=True, help="the extracted CIFAR-10 JPEG folder (train/, test/)")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/frozen_features.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["CNNLAB_CACHE"] = str(Path(scratch) / "cache")  # the first cached run computes its features
        data = subset(args.cifar, args.per_class, Path(scratch) / "cifar10-subset")
        runs = [timed_run(data, Path(scratch) / "runs", cached, args) for cached in (False, True)]
    through, cached = runs
    report = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_threads": os.cpu_count()},
        "setup": {"data": f"CIFAR-10 JPEG, {args.per_class} train and {args.per_class} test images per class",
                  "model": "efficientnet_lite0, ImageNet weights, backbone frozen", "image_size": args.size,
                  "epochs": args.epochs, "batch_size": args.batch, "seed": args.seed,
                  "epoch_seconds": "training plus validation of each epoch, from metrics.jsonl"},
        "runs": runs,
        "head_epoch_speedup": through["median_epoch_seconds"] / cached["median_epoch_seconds"],
        "final_val_acc_difference": cached["val_acc"][-1] - through["val_acc"][-1],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("head_epoch_speedup", "final_val_acc_difference")}))


if __name__ == "__main__":
    main()
