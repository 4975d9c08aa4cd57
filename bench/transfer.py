"""Benchmark: transfer learning against training from scratch on a small labelled subset of another label set.

Pretrains SimpleCNN on CIFAR-10 classes 0-4 (airplane, automobile, bird, cat, deer; all 25,000 training images),
then trains on 100 images per class of classes 5-9 (dog, frog, horse, ship, truck: a different label set, so
another dataset) three ways: from scratch, from the pretrained weights with the backbone frozen (a new head only),
and fastai-style `--fine-tune` (head first, then everything at 0.1x backbone rates). Accuracy is on all 5,000
held-out test images of classes 5-9, after the last epoch (no selection on the test set), for several seeds.

    nice -n 10 python bench/transfer.py --data /tmp/cifarL --out bench/results/transfer.json
"""

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from cnnlab.train.trainer import fit

SOURCE, TARGET = range(0, 5), range(5, 10)


def link_split(data: Path, dest: Path, split: str, classes: list[str], per_class: int | None, seed: int) -> None:
    """Symlink (a seeded sample of `per_class`) images of each class of data/split into dest/split."""
    rng = random.Random(seed)
    for name in classes:
        files = sorted((data / split / name).iterdir())
        chosen = files if per_class is None else rng.sample(files, per_class)
        folder = dest / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for file in chosen:
            (folder / file.name).symlink_to(file.resolve())


def make_folder(data: Path, dest: Path, classes: list[str], per_class: int | None, seed: int) -> Path:
    """An image folder with train/ (all or `per_class` per class) and the full test/ of the given classes."""
    if not dest.exists():
        link_split(data, dest, "train", classes, per_class, seed)
        link_split(data, dest, "test", classes, None, seed)
    return dest


def run(name: str, out: Path, **settings: object) -> dict:
    """One training run through the library API; its final test accuracy and time."""
    result = fit(out=str(out), name=name, **settings)
    return {"final_test_acc": result.final_accuracy, "seconds": round(result.seconds, 1), "run": str(result.run_dir)}


def main() -> None:
    """Pretrain, then scratch / frozen / fine-tune per seed; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cifarL"), help="CIFAR-10 folder with train/, test/")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnnlab-transfer-bench"))
    parser.add_argument("--pretrain-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20, help="epochs on the small target subset")
    parser.add_argument("--fine-tune", type=int, default=2, help="head-only epochs of the fine-tune schedule")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/transfer.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    classes = sorted(p.name for p in (args.data / "train").iterdir())
    source = make_folder(args.data, args.work / "source", [classes[i] for i in SOURCE], None, 0)
    runs = args.work / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    common = dict(model="simplecnn", batch_size=64, workers=0)
    pretrain = run("pretrain", runs, data=str(source), epochs=args.pretrain_epochs, **{**common, "batch_size": 128})
    ways = {
        "scratch": {},
        "frozen_backbone": dict(pretrained=pretrain["run"], freeze="backbone"),
        "fine_tune": dict(pretrained=pretrain["run"], fine_tune=args.fine_tune),
    }
    results: dict[str, list[dict]] = {way: [] for way in ways}
    for seed in range(args.seeds):
        target = make_folder(args.data, args.work / f"target-{args.per_class}-seed{seed}",
                             [classes[i] for i in TARGET], args.per_class, seed)
        for way, extra in ways.items():
            results[way].append(run(f"{way}-seed{seed}", runs, data=str(target), epochs=args.epochs, seed=seed,
                                    **common, **extra))
    summary = {way: {"mean_test_acc": statistics.mean(r["final_test_acc"] for r in rows),
                     "test_accs": [r["final_test_acc"] for r in rows]} for way, rows in results.items()}
    report = {
        "setup": {
            "source": f"CIFAR-10 classes {[classes[i] for i in SOURCE]}, all training images",
            "target": f"CIFAR-10 classes {[classes[i] for i in TARGET]}, {args.per_class} training images per class",
            "test": "all held-out test images of the target classes (1,000 per class), final epoch",
            "model": "simplecnn", "pretrain_epochs": args.pretrain_epochs, "target_epochs": args.epochs,
            "fine_tune_head_epochs": args.fine_tune, "seeds": args.seeds,
        },
        "budget": {"seconds": round(time.perf_counter() - start, 1), "limit_minutes": 20,
                   "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, shared CPU, nice -n 10"},
        "pretrain": pretrain,
        "summary": summary,
        "runs": results,
        "transfer_wins": max(summary["fine_tune"]["mean_test_acc"], summary["frozen_backbone"]["mean_test_acc"])
        > summary["scratch"]["mean_test_acc"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"summary": summary, "budget": report["budget"]}, indent=2))


if __name__ == "__main__":
    main()
