"""Benchmark: wall time and training FLOPs to a test accuracy, for a cnnlab recipe or the course's plain-PyTorch loop.

For each seed, trains with `cnnlab`'s own `fit` (the same code `cnnlab train --recipe NAME` runs, data loading and
evaluation included in the wall time) and records the final test accuracy, the wall time to the target accuracy,
training FLOPs (one training step counted with torch.utils.flop_counter, times the steps taken), images/s and the
achieved GFLOP/s beside the fp32 and bf16 matmul peaks measured in the same process on the run's device (epochs and
peaks are timed with CUDA events on a GPU). `--baseline lesson` runs the course's recipe instead as plain PyTorch:
torchvision ImageFolder + DataLoader (RandomCrop 4, flip), SimpleCNN, Adam 1e-3.

    python bench/time_to_accuracy.py --recipe fast85 --data /tmp/cifarL --seeds 0 1 2 --target 0.85
    python bench/time_to_accuracy.py --baseline lesson --data /tmp/cifarL --epochs 30 --seeds 0 --target 0.85
    python bench/time_to_accuracy.py --recipe fast94 --data /tmp/cifarL --seeds 0 1 2 3 4 --target 0.9063  # GPU row
"""

import argparse
import json
import logging
import math
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.data.tta import tta_views
from cnnlab.models import create_model
from cnnlab.settings import Settings, resolve
from cnnlab.train.fit import fit
from cnnlab.train.precision import pick_device
from cnnlab.train.stopwatch import Stopwatch

IMAGE = (3, 32, 32)
CLASSES = 10


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 3.0) -> float:
    """The matrix-product rate of this process on `device` in `dtype`, in GFLOP/s (best of repeated square
    products: 2048 wide on a CPU, 8192 on a GPU, timed by `Stopwatch`, so CUDA events there)."""
    size = 8192 if device.type == "cuda" else 2048
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b  # sets up the kernels; on CUDA the first mark below waits in the stream until it is done
    best, end = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < end:
        clock = Stopwatch(device).start()
        a @ b
        best = min(best, clock.stop())
    return 2 * size**3 / best / 1e9


def step_flops(model_spec: str, batch_size: int, label_smoothing: float = 0.0, size: int = IMAGE[1]
               ) -> tuple[float, float]:
    """(training FLOPs per image of one forward+backward step, forward FLOPs per image) of the model at this
    image size."""
    model = create_model(model_spec, num_classes=CLASSES)
    if hasattr(model, "init_from_data"):
        model.init_from_data(torch.randn(256, *IMAGE))
    x, y = torch.randn(batch_size, IMAGE[0], size, size), torch.randint(0, CLASSES, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y, label_smoothing=label_smoothing).backward()
    train = counter.get_total_flops() / batch_size
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return train, counter.get_total_flops() / batch_size


def seed_row(rows: list[dict], setup_s: float, wall_s: float, target: float, train_images: int,
             flops: float, eval_flops: float) -> dict:
    """One seed's figures from its epoch rows: accuracy, time to the target, FLOPs and rates."""
    spread = (wall_s - setup_s - sum(r["epoch_time"] + r["eval_time"] for r in rows)) / len(rows)  # checkpoints, logs
    elapsed, to_target = setup_s, None
    for row in rows:
        elapsed += row["epoch_time"] + row["eval_time"] + spread
        if to_target is None and row["val_acc"] >= target:
            to_target = elapsed
    train_s = sum(r["epoch_time"] for r in rows)
    return {"accuracy": rows[-1]["val_acc"], "epochs": len(rows), "wall_s": wall_s, "setup_s": setup_s,
            "train_s": train_s, "eval_s": sum(r["eval_time"] for r in rows), "time_to_target_s": to_target,
            "train_pflop": flops / 1e15, "eval_pflop": eval_flops / 1e15, "images_per_s": train_images / train_s,
            "train_gflops_per_s": flops / train_s / 1e9, "accuracies": [r["val_acc"] for r in rows]}


def run_recipe(settings: Settings, target: float, test_images: int) -> dict:
    """Train one seed of a cnnlab recipe; its figures."""
    start = time.perf_counter()
    result = fit(settings)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    sizes = {row.get("image_size", IMAGE[1]) for row in rows}  # progressive resizing trains some epochs smaller
    per_image = {size: step_flops(settings.model.model, settings.optim.batch_size, settings.optim.label_smoothing, size)
                 for size in sizes}
    seen = [row["images_per_s"] * row["epoch_time"] for row in rows]  # images trained on, each epoch
    train_flops = sum(n * per_image[row.get("image_size", IMAGE[1])][0] for n, row in zip(seen, rows))
    views = len(tta_views(torch.zeros(1, *IMAGE), settings.run.tta))
    eval_flops = per_image[IMAGE[1]][1] * test_images * (len(rows) - 1 + views)  # plain evaluations, then TTA
    return {"run": str(result.run_dir), **seed_row(rows, wall - result.seconds, wall, target, round(sum(seen)),
                                                   train_flops, eval_flops)}


def count_files(folder: Path) -> int:
    """Files under a folder (the test images)."""
    return sum(1 for path in folder.rglob("*") if path.is_file())


def run_lesson(data: Path, epochs: int, seed: int, target: float, workers: int, device: torch.device) -> dict:
    """The course's recipe as plain PyTorch + torchvision: ImageFolder, DataLoader, a hand-written loop (on the GPU
    when there is one, as the course's notebook runs)."""
    from torchvision import datasets, transforms

    start = time.perf_counter()
    torch.manual_seed(seed)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    train_tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), transforms.Normalize(mean, std)])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    train_set = datasets.ImageFolder(str(data / "train"), train_tf)
    test_set = datasets.ImageFolder(str(data / "test"), test_tf)
    loader = torch.utils.data.DataLoader(train_set, 128, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    test_loader = torch.utils.data.DataLoader(test_set, 256, num_workers=workers)
    model = create_model("simplecnn", num_classes=CLASSES).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    setup = time.perf_counter() - start
    rows = []
    for _ in range(epochs):
        model.train()
        clock = Stopwatch(device).start()
        for images, labels in loader:
            loss = F.cross_entropy(model(images.to(device)), labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        epoch_time, clock = clock.stop(), Stopwatch(device).start()
        model.eval()
        with torch.no_grad():
            correct = sum((model(images.to(device)).argmax(1) == labels.to(device)).sum().item()
                          for images, labels in test_loader)
        rows.append({"epoch_time": epoch_time, "eval_time": clock.stop(),
                     "val_acc": correct / len(test_set)})
        print(f"lesson epoch {len(rows)}: {rows[-1]}", flush=True)
    train_flops, forward_flops = step_flops("simplecnn", 128)
    return seed_row(rows, setup, time.perf_counter() - start, target, len(train_set) * epochs,
                    train_flops * len(train_set) * epochs, forward_flops * len(test_set) * epochs)


def parse_value(text: str) -> object:
    """A --set value: a JSON number, boolean or null, else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def summary(seeds: list[dict]) -> dict:
    """Mean and spread over seeds."""
    accuracies = [s["accuracy"] for s in seeds]
    reached = [s["time_to_target_s"] for s in seeds if s["time_to_target_s"] is not None]
    return {"accuracy_mean": statistics.mean(accuracies),
            "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "wall_s_mean": statistics.mean(s["wall_s"] for s in seeds),
            "time_to_target_s_mean": statistics.mean(reached) if len(reached) == len(seeds) else None,
            "seeds_reaching_target": len(reached),
            "train_pflop": statistics.mean(s["train_pflop"] for s in seeds),
            "images_per_s": statistics.mean(s["images_per_s"] for s in seeds),
            "train_gflops_per_s": statistics.mean(s["train_gflops_per_s"] for s in seeds)}


def main() -> None:
    """Measure the peak, run every seed, and write the JSON (after each seed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast85")
    parser.add_argument("--baseline", choices=["lesson"], help="run the course's plain-PyTorch loop instead")
    parser.add_argument("--data", type=Path, default=Path("/tmp/cifarL"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (the baseline's default: 30)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    parser.add_argument("--runs", type=Path, default=Path("runs/time_to_accuracy"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override recipe settings")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    name = args.baseline or args.recipe
    out = args.out or Path("bench/results") / f"time_to_accuracy_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    overrides = dict(item.split("=", 1) for item in args.set)
    device = pick_device(overrides.get("device", "auto"))
    peak, bf16_peak = matmul_peak(device), matmul_peak(device, torch.bfloat16)
    machine = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "cpu_threads": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__,
               "matmul_fp32_peak_gflops_per_s": peak, "matmul_bf16_peak_gflops_per_s": bf16_peak}
    seeds = []
    for seed in args.seeds:
        if args.baseline:
            seeds.append(run_lesson(args.data, args.epochs or 30, seed, args.target, args.workers, device))
            settings = {"recipe": "lesson (plain PyTorch + torchvision DataLoader)", "epochs": args.epochs or 30}
        else:
            typed = {key: parse_value(value) for key, value in overrides.items()}
            run_settings = resolve(recipe=args.recipe, data=str(args.data), seed=seed, epochs=args.epochs,
                                   out=str(args.runs), name=f"{name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}",
                                   **typed)
            seeds.append(run_recipe(run_settings, args.target, count_files(args.data / "test")))
            settings = run_settings.flat()
        report = {"benchmark": name, "target": args.target, "data": str(args.data), "machine": machine,
                  "settings": settings, **summary(seeds), "seeds": seeds}
        report["fraction_of_peak"] = report["train_gflops_per_s"] / peak
        report["fraction_of_bf16_peak"] = report["train_gflops_per_s"] / bf16_peak
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"seed {seed}: {seeds[-1]['accuracy']:.2%} in {seeds[-1]['wall_s']:.0f} s "
              f"(to {args.target:.2%}: {seeds[-1]['time_to_target_s']}), {seeds[-1]['train_gflops_per_s']:.0f} GFLOP/s "
              f"of {peak:.0f}", flush=True)
    print(out)


if __name__ == "__main__":
    main()
