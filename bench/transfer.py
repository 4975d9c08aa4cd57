"""Benchmark: transfer learning against training from scratch on a small labelled subset of another label set.

Pretrains SimpleCNN on CIFAR-10 classes 0-4 (airplane, automobile, bird, cat, deer; their training images),
then trains on 100 images per class of classes 5-9 (dog, frog, horse, ship, truck: a different label set, so
another dataset) three ways: from scratch, from the pretrained weights with the backbone frozen (a new head only),
and fastai-style `--fine-tune` (head first, then everything at 0.1x backbone rates). Accuracy is on all 5,000
held-out test images of classes 5-9 with the last epoch's weights (no selection on the test set), for several seeds
(each seed draws its own 100 images per class).

    nice -n 10 python bench/transfer.py --data /tmp/cifarL --out bench/results/transfer.json
"""

import argparse
import json
import logging
import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from cnnlab.inference.loaded import load_model
from cnnlab.train.fit import fit

SOURCE, TARGET = range(0, 5), range(5, 10)


def link(files: list[Path], folder: Path) -> None:
    """Symlink files into a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / file.name).symlink_to(file.resolve())


def make_folder(data: Path, dest: Path, classes: list[str], split: str, per_class: int | None, val: int,
                seed: int) -> Path:
    """dest/train (all, or a seeded `per_class` sample, of data/split) and dest/val (`val` other images per class)."""
    rng = random.Random(seed)
    if not dest.exists():
        for name in classes:
            files = sorted((data / split / name).iterdir())
            rng.shuffle(files)
            chosen = files[val:] if per_class is None else files[val:val + per_class]
            link(chosen, dest / "train" / name)
            link(files[:val], dest / "val" / name)
    return dest


def test_images(data: Path, classes: list[str]) -> tuple[list[Path], torch.Tensor]:
    """Every held-out test image of the classes (files and labels in class order)."""
    files = [file for name in classes for file in sorted((data / "test" / name).iterdir())]
    labels = torch.tensor([i for i, name in enumerate(classes) for _ in (data / "test" / name).iterdir()])
    return files, labels


def test_accuracy(run_dir: Path, files: list[Path], labels: torch.Tensor) -> float:
    """Top-1 accuracy of a run's last checkpoint (the final epoch: no selection on the test set)."""
    loaded = load_model(run_dir / "checkpoints" / "last.safetensors")
    images, kept, _ = loaded.decode(files)
    assert len(kept) == len(files)
    return (loaded.logits(images).argmax(1) == labels).float().mean().item()


def run(name: str, out: Path, test: tuple[list[Path], torch.Tensor] | None = None, **settings: object) -> dict:
    """One training run through the library API; its time, validation and (given test images) test accuracy."""
    result = fit(out=str(out), name=name, **settings)
    row = {"final_val_acc": result.final_accuracy, "seconds": round(result.seconds, 1), "run": str(result.run_dir)}
    return row | ({"test_acc": test_accuracy(result.run_dir, *test)} if test else {})


def pretrained_source(args: argparse.Namespace, source: Path, runs: Path) -> dict:
    """Pretrain on the source classes, or reuse a finished pretraining run (its time read from its metrics)."""
    if args.pretrain_run is None:
        return run("pretrain", runs, data=str(source), model="simplecnn", epochs=args.pretrain_epochs, batch_size=128)
    rows = [json.loads(line) for line in (args.pretrain_run / "metrics.jsonl").read_text().splitlines()]
    if len(rows) != args.pretrain_epochs:
        raise SystemExit(f"{args.pretrain_run} has {len(rows)} epochs, not --pretrain-epochs {args.pretrain_epochs}")
    seconds = sum(row["epoch_time"] + row["eval_time"] for row in rows)
    return {"final_val_acc": rows[-1]["val_acc"], "seconds": round(seconds, 1), "run": str(args.pretrain_run)}


def summarize(results: dict[str, list[dict]]) -> dict:
    """Mean and per-seed test accuracy of each way."""
    return {way: {"mean_test_acc": statistics.mean(r["test_acc"] for r in rows),
                  "test_accs": [r["test_acc"] for r in rows]} for way, rows in results.items()}


def main() -> None:
    """Pretrain, then scratch / frozen / fine-tune per seed; write the JSON after every seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cifarL"), help="CIFAR-10 folder with train/, test/")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnnlab-transfer-bench"))
    parser.add_argument("--pretrain-epochs", type=int, default=8)
    parser.add_argument("--pretrain-run", type=Path, help="reuse this finished pretraining run of this script")
    parser.add_argument("--epochs", type=int, default=15, help="epochs on the small target subset")
    parser.add_argument("--fine-tune", type=int, default=2, help="head-only epochs of the fine-tune schedule")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/transfer.json"))
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    start = time.perf_counter()
    classes = sorted(p.name for p in (args.data / "train").iterdir())
    source_classes, target_classes = [classes[i] for i in SOURCE], [classes[i] for i in TARGET]
    source = make_folder(args.data, args.work / "source", source_classes, "train", None, 100, 0)
    runs = args.work / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    pretrain = pretrained_source(args, source, runs)
    test = test_images(args.data, target_classes)
    ways = {
        "scratch": {},
        "frozen_backbone": dict(pretrained=pretrain["run"], freeze="backbone"),
        "fine_tune": dict(pretrained=pretrain["run"], fine_tune=args.fine_tune),
    }
    results: dict[str, list[dict]] = {way: [] for way in ways}
    for seed in range(args.seeds):
        target = make_folder(args.data, args.work / f"target-{args.per_class}-seed{seed}", target_classes, "train",
                             args.per_class, 20, seed)
        for way, extra in ways.items():
            results[way].append(run(f"{way}-seed{seed}", runs, test, data=str(target), model="simplecnn",
                                    epochs=args.epochs, batch_size=32, seed=seed, **extra))
        summary = summarize(results)
        report = {
            "setup": {
                "source": f"CIFAR-10 classes {source_classes}: 24,500 training images (100 per class held out as val)",
                "target": f"CIFAR-10 classes {target_classes}: {args.per_class} training images per class "
                          "(+20 per class as the per-epoch val split), a fresh sample per seed",
                "test": f"all {len(test[1])} held-out test images of the target classes, last epoch's weights",
                "model": "simplecnn", "optimizer": "adam, lr 1e-3, cosine", "batch_size": 32,
                "pretrain_epochs": args.pretrain_epochs, "target_epochs": args.epochs,
                "fine_tune_head_epochs": args.fine_tune, "seeds_done": seed + 1,
            },
            "budget": {
                "seconds": round(time.perf_counter() - start + (pretrain["seconds"] if args.pretrain_run else 0), 1),
                "limit_minutes": 20,
                "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU shared with other jobs "
                           f"(load average {os.getloadavg()[0]:.1f} at the end), nice -n 10",
            },
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
