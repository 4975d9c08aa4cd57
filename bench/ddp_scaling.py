"""Benchmark: the same training on 1 process and on N DDP processes of this machine (`--devices N`), same global
batch and learning rate; reports images/s of the last epoch, final accuracy and wall time of each as JSON.

On GPUs each process has its own GPU; on the CPU the processes share the cores (each gets cores/N threads), so
there the figure shows the cost of the extra processes and the gradient all-reduce, not a speed-up.

    python bench/ddp_scaling.py --data sample --model simplecnn --epochs 2 --devices 2 --out bench/results/ddp_scaling.json
"""

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from cnnlab.settings import resolve
from cnnlab.train.fit import fit


def one_run(settings: dict, devices: int, out: Path) -> dict:
    """Train once on `devices` processes (1: this process) and read back its last metrics row."""
    config = resolve(**settings, out=str(out), name=f"devices-{devices}")
    start = time.perf_counter()
    result = fit(config if devices == 1 else config.replace(devices=devices))  # `devices` N: fit starts N processes
    wall = time.perf_counter() - start
    last = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    return {"devices": devices, "wall_s": round(wall, 1), "last_epoch_images_per_s": round(last["images_per_s"], 1),
            "last_epoch_s": round(last["epoch_time"], 2), "val_acc": last["val_acc"], "train_loss": last["train_loss"]}


def main() -> None:
    """Parse the options, run 1 and N processes one after the other, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample")
    parser.add_argument("--model", default="simplecnn")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--out", default="bench/results/ddp_scaling.json")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    settings = dict(data=args.data, model=args.model, epochs=args.epochs, batch_size=args.batch_size, seed=0)
    with tempfile.TemporaryDirectory() as runs:
        results = [one_run(settings, n, Path(runs)) for n in (1, args.devices)]
    report = {
        "settings": settings,
        "machine": {"cpus": os.cpu_count(), "cuda": torch.cuda.device_count(), "torch": torch.__version__,
                    "platform": platform.platform(), "load_average_at_end": os.getloadavg()},
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
