"""Benchmark: the fast network's training step on this CPU by memory format, precision, threads, batch and activation.

Times repeated SGD steps on in-memory random batches (no data loading) and sets the achieved GFLOP/s (FLOPs counted
with torch.utils.flop_counter) beside the fp32 matmul peak measured in the same process: the measurements behind the
fast recipes' CPU choices (channels_last, fp32, all threads, batch size, ReLU or GELU).

    python bench/fast_step.py --out bench/results/fast_step.json
"""

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from time_to_accuracy import matmul_peak
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.models import create_model
from cnnlab.train.precision import autocast

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def step_time(spec: str, batch: int, channels_last: bool, precision: str, seconds: float) -> tuple[float, float]:
    """(seconds per training step, FLOPs per step) of the model on a random batch."""
    torch.manual_seed(0)
    model = create_model(spec)
    model.init_from_data(torch.randn(512, 3, 32, 32))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch,))
    dtype = PRECISIONS[precision]

    def step() -> None:
        with autocast(torch.device("cpu"), dtype):
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return (time.perf_counter() - start) / count, counter.get_total_flops()


def main() -> None:
    """Time every combination and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64-256-256")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seconds", type=float, default=4.0, help="timing per combination")
    parser.add_argument("--out", type=Path, default=Path("bench/results/fast_step.json"))
    args = parser.parse_args()
    threads = torch.get_num_threads()
    peak = matmul_peak(torch.device("cpu"))
    rows = []
    grid = itertools.product(("gelu", "relu"), args.batches, (True, False), PRECISIONS, sorted({1, threads}))
    for act, batch, channels_last, precision, n_threads in grid:
        torch.set_num_threads(n_threads)
        spec = f"fast:widths={args.widths},act={act}"
        seconds, flops = step_time(spec, batch, channels_last, precision, args.seconds)
        rows.append({"act": act, "batch": batch, "memory_format": "channels_last" if channels_last else "nchw",
                     "precision": precision, "threads": n_threads, "ms_per_step": seconds * 1000,
                     "images_per_s": batch / seconds, "gflops_per_s": flops / seconds / 1e9,
                     "fraction_of_peak": flops / seconds / 1e9 / peak})
        print(json.dumps(rows[-1]), flush=True)
    torch.set_num_threads(threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"threads": threads, "platform": platform.platform(),
                                                "torch": torch.__version__, "matmul_fp32_peak_gflops_per_s": peak},
                                    "model": f"fast:widths={args.widths}", "rows": rows}, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
