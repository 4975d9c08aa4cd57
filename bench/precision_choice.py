"""How `precision auto` chooses on this CPU with the machine kept busy: a second process runs matrix products on every
core while the choice is made `--tries` times for each model, as `cnnlab train` makes it (training steps of the
run's own model timed in fp32 and bf16 in turns, each precision's fastest step compared). Writes
bench/results/precision_choice.json.

    python bench/precision_choice.py --tries 10

On a CPU without bf16 units the choice is fp32 without a timing; the JSON then holds one timed round per model
(`unchosen_bf16_speedup`) to show what bf16 would have cost.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from cnnlab.models import create_model
from cnnlab.train.assemble import probe_batch
from cnnlab.train.defaults import CPU_SIZE, TRANSFER, TRANSFER_STEPS
from cnnlab.train.precision import ROUNDS, cpu_has_bf16_units, pick_dtype, step_times

# each case: the model, its input and the run's batch size (which the probe's batch never exceeds); the last is what
# `cnnlab train --data FOLDER` chooses for a folder of photos (defaults.TRANSFER at CPU_SIZE, its batch size)
CASES = {"simplecnn": ("simplecnn", (3, 32, 32), 128), "fast": ("fast", (3, 32, 32), 128),
         "resnet18": ("resnet18", (3, 128, 128), 128), "efficientnet_lite0": ("efficientnet_lite0", (3, 224, 224), 128),
         "efficientnet_lite0 as auto chooses it": (TRANSFER, (3, CPU_SIZE, CPU_SIZE), TRANSFER_STEPS["batch_size"])}
LOAD = """
import torch
torch.set_num_threads({threads})
a = torch.randn(2048, 2048)
while True:
    a = (a @ a).clamp_(-1, 1)
"""


def busy(threads: int) -> subprocess.Popen:
    """A process that keeps `threads` cores busy with fp32 matrix products until it is stopped."""
    return subprocess.Popen([sys.executable, "-c", LOAD.format(threads=threads)])


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/precision_choice.json"))
    args = parser.parse_args()
    cpu = torch.device("cpu")
    threads = os.cpu_count() or 2
    load = busy(threads)
    time.sleep(2.0)  # the load is running before the first choice
    started, load_cpu = time.perf_counter(), cpu_seconds(load.pid)
    results = {}
    try:
        for name, (architecture, shape, batch) in CASES.items():
            model = create_model(architecture, num_classes=10)
            if hasattr(model, "init_from_data"):
                model.init_from_data(torch.randn(256, *shape))
            model = model.to(memory_format=torch.channels_last)
            tries = []
            for _ in range(args.tries):
                measured = []
                dtype = pick_dtype("auto", cpu, lambda: measured.append(
                    step_times(model, probe_batch(batch, shape), 10, cpu)) or measured[-1].speedup)
                timed = measured[0] if measured else None
                tries.append({"dtype": str(dtype).removeprefix("torch."),
                              "speedup": timed.speedup if timed else None,
                              "round_speedups": timed.rounds() if timed else None,
                              "fp32_seconds": timed.fp32 if timed else None,
                              "bf16_seconds": timed.bf16 if timed else None})
                print(f"{name}: {tries[-1]['dtype']} {tries[-1]['speedup']}", flush=True)
            results[name] = {"input": list(shape), "tries": tries,
                             "bf16_chosen": sum(t["dtype"] == "bfloat16" for t in tries)}
            if not cpu_has_bf16_units():  # no try timed anything: one round says what bf16 would have cost here
                results[name]["unchosen_bf16_speedup"] = step_times(model, probe_batch(batch, shape), 10, cpu,
                                                                    rounds=1).speedup
    finally:
        wall, used = time.perf_counter() - started, cpu_seconds(load.pid) - load_cpu
        load.terminate()
        load.wait()
    report = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_threads": threads,
                    "bf16_units": cpu_has_bf16_units(),
                    "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
                    "avx512_bf16": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "rule": f"with bf16 units, bf16 when the fastest of {ROUNDS} timed bf16 training steps beats the fastest of "
                f"{ROUNDS} fp32 steps",
        "load": {"process": "fp32 2048x2048 matrix products on every core", "threads": threads,
                 "cpu_seconds": used, "wall_seconds": wall, "cores_kept_busy": used / wall},
        "probe_batches": {name: probe_batch(batch, shape)[0] for name, (_, shape, batch) in CASES.items()}, "models": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
