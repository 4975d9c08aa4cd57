"""Benchmark: the course's lesson recipe through cnnlab vs a plain PyTorch loop with torchvision's DataLoader.

Both train the same SimpleCNN with Adam 1e-3, weight decay 1e-4, cosine over the epochs, batch 128,
random crop (pad 4) + flip and CIFAR mean/std, on the same image folder, one after the other, each in a
fresh process, and report seconds per training epoch and final test accuracy as JSON.

    python bench/lesson_speed.py --data /tmp/cifar10 --epochs 30 --out bench/results/lesson_speed.json
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from cnnlab.data.sources import CIFAR_MEAN, CIFAR_STD
from cnnlab.models import create_model
from cnnlab.settings import resolve
from cnnlab.train.fit import fit


def plain_pytorch(data: Path, epochs: int, workers: int, seed: int) -> dict:
    """The course's loop as a student writes it: ImageFolder + transforms + DataLoader, NCHW, fp32."""
    torch.manual_seed(seed)
    normalize = transforms.Normalize(CIFAR_MEAN, CIFAR_STD)
    train_tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), normalize])
    test_tf = transforms.Compose([transforms.ToTensor(), normalize])
    train = DataLoader(datasets.ImageFolder(data / "train", train_tf), batch_size=128, shuffle=True, num_workers=workers)
    test = DataLoader(datasets.ImageFolder(data / "test", test_tf), batch_size=256, num_workers=workers)
    model = create_model("simplecnn", num_classes=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    epoch_times, eval_times = [], []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for images, labels in train:
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        scheduler.step()
        epoch_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test:
                correct += (model(images).argmax(1) == labels).sum().item()
        eval_times.append(time.perf_counter() - start)
    return {"epoch_times": epoch_times, "eval_times": eval_times, "test_accuracy": correct / len(test.dataset)}


def through_cnnlab(data: Path, epochs: int, seed: int, out: Path) -> dict:
    """The same recipe as `cnnlab train --data DATA --recipe lesson --epochs N`."""
    start = time.perf_counter()
    result = fit(resolve(recipe="lesson", data=str(data), epochs=epochs, seed=seed, out=str(out)))
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        "epoch_times": [r["epoch_time"] for r in rows],
        "eval_times": [r["eval_time"] for r in rows],
        "test_accuracy": result.final_accuracy,
        "total_seconds_including_data_loading": time.perf_counter() - start,
        "run_dir": str(result.run_dir),
    }


SIDES = {"cnnlab": "cnnlab", "plain": "plain_pytorch"}


def run_side(side: str, args: argparse.Namespace) -> dict:
    """One side in its own process, so neither inherits the other's threads, allocator or float settings."""
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / f"{side}.json"
        command = [sys.executable, __file__, "--data", str(args.data), "--epochs", str(args.epochs),
                   "--workers", str(args.workers), "--seed", str(args.seed), "--only", side, "--out", str(part)]
        subprocess.run(command, check=True)
        return json.loads(part.read_text())[SIDES[side]]


def main() -> None:
    """Run both sides one after the other, each in a fresh process, and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="image folder with train/ and test/")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("both", "plain", "cnnlab"), default="both")
    parser.add_argument("--out", type=Path, default=Path("bench/results/lesson_speed.json"))
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    results = {
        "machine": {"cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "cuda": torch.cuda.is_available()},
        "epochs": args.epochs,
    }
    if args.only == "cnnlab":
        results["cnnlab"] = through_cnnlab(args.data, args.epochs, args.seed, Path("runs/bench"))
    elif args.only == "plain":
        results["plain_pytorch"] = plain_pytorch(args.data, args.epochs, args.workers, args.seed)
    else:
        for side, key in SIDES.items():
            results[key] = run_side(side, args)
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        results["speedup_per_epoch"] = mean(results["plain_pytorch"]["epoch_times"]) / mean(results["cnnlab"]["epoch_times"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2)[:2000])


if __name__ == "__main__":
    main()
