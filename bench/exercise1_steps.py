"""Benchmark: the cost of exercise-1 candidates against SimpleCNN, per training step, interleaved in one process.

On a shared machine an epoch's wall time says more about the neighbours than about the model, so this times the
candidates and SimpleCNN in alternation (round-robin, same batches, same threads), reports each one's median step
time and its ratio to SimpleCNN's, and scales a measured SimpleCNN epoch time (the lesson benchmark's, by default)
into an estimated epoch and 30-epoch time for each candidate. Random 32x32 batches of 128, SGD, channels_last, fp32.

    python bench/exercise1_steps.py --steps 15 --out bench/results/exercise1_steps.json
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab.models import create_model
from cnnlab.settings import RECIPES
from cnnlab.train.precision import flush_denormals

CANDIDATES = (
    "simplecnn",
    "convnet:widths=32-64-128,convs=1,dropout=0.1",
    "convnet:widths=32-64-128,convs=1-2-2,dropout=0.1",
    RECIPES["exercise1"].values["model"],
    "convnet:widths=64-128-256,convs=2,dropout=0.1",
)


def step_timer(spec: str, batch: int) -> tuple[callable, torch.nn.Module]:
    """A function that runs one SGD step of the model on a fixed random batch and returns its seconds."""
    torch.manual_seed(0)
    model = create_model(spec, num_classes=10).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> float:
        """One forward, backward and update; its wall time."""
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    return step, model


def main() -> None:
    """Time the candidates round-robin and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--simplecnn-epoch-s", type=float, default=30.6, help="measured SimpleCNN epoch (lesson bench)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/exercise1_steps.json"))
    args = parser.parse_args()
    flush_denormals()
    timers = {spec: step_timer(spec, args.batch) for spec in CANDIDATES}
    for step, _ in timers.values():  # warm-up
        step()
    times: dict[str, list[float]] = {spec: [] for spec in CANDIDATES}
    for _ in range(args.steps):
        for spec, (step, _) in timers.items():
            times[spec].append(step())
    base = statistics.median(times["simplecnn"])
    steps_per_epoch = -(-50_000 // args.batch)
    rows = []
    for spec, (_, model) in timers.items():
        median = statistics.median(times[spec])
        epoch = args.simplecnn_epoch_s * median / base
        rows.append({"model": spec, "params": sum(p.numel() for p in model.parameters()), "median_step_s": median,
                     "ratio_to_simplecnn": median / base, "raw_epoch_s_at_this_load": median * steps_per_epoch,
                     "estimated_epoch_s": epoch, "estimated_30_epochs_min": 30 * epoch / 60})
        print(f"{spec:55s} {median * 1e3:8.1f} ms/step  x{median / base:5.2f}  est. {epoch:6.1f} s/epoch "
              f"{30 * epoch / 60:5.1f} min/30 epochs")
    result = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "load_average_1_5_15": os.getloadavg(),
              "torch": torch.__version__, "steps": args.steps, "batch": args.batch,
              "simplecnn_epoch_s": args.simplecnn_epoch_s, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
