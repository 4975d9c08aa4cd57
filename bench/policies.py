"""Benchmark: the course's augmentations and policies at one fixed budget (docs/experiments.md, section 9).

Trains the lesson recipe (SimpleCNN, Adam 1e-3, cosine, batch 128) for the same epochs and seeds with no
augmentation, crop+flip, and crop+flip plus each policy (RandAugment, TrivialAugmentWide, AutoAugment's CIFAR-10
policy, AugMix) or batch mixing (MixUp, CutMix). Records the final test accuracy (last epoch, no selection) and the
median training time per epoch. A finished run is read back instead of trained again, so deleting one run's folder
and running the same command retrains only that run.

    python bench/policies.py --data /tmp/cifar10k --epochs 15 --seeds 0 1 --out bench/results/policies.json
"""

import argparse
import json
import logging
import platform
import shutil
import statistics
from pathlib import Path

import torch

from cnnlab.data.policies import Policy
from cnnlab.settings import resolve
from cnnlab.train.fit import fit

NONE = dict(crop_padding=0, flip=False)
CROP_FLIP = dict(crop_padding=4, flip=True)
SETUPS: dict[str, dict] = {
    "none": NONE,
    "crop+flip": CROP_FLIP,
    "crop+flip+randaugment": {**CROP_FLIP, "policy": "randaugment"},
    "crop+flip+trivialaugment": {**CROP_FLIP, "policy": "trivialaugment"},
    "crop+flip+autoaugment": {**CROP_FLIP, "policy": "autoaugment"},
    "crop+flip+augmix": {**CROP_FLIP, "policy": "augmix"},
    "crop+flip+mixup": {**CROP_FLIP, "mixup": 0.2},
    "crop+flip+cutmix": {**CROP_FLIP, "cutmix": 1.0},
}


def run_setup(data: str, name: str, seed: int, epochs: int, runs: Path) -> dict:
    """Train one augmentation setup with one seed (or read the finished run); its final test accuracy and times."""
    run_dir = runs / f"{name.replace('+', '-')}-seed{seed}"
    metrics = run_dir / "metrics.jsonl"
    if not (metrics.exists() and len(metrics.read_text().splitlines()) == epochs):
        shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run starts again: its times must be whole
        fit(resolve(data=data, recipe="lesson", epochs=epochs, seed=seed, out=str(runs), name=run_dir.name,
                    **SETUPS[name]))
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    return {"setup": name, "seed": seed, "run": str(run_dir), "test_accuracy": rows[-1]["val_acc"],
            "train_accuracy": rows[-1]["train_acc"],
            "epoch_time_median": statistics.median(r["epoch_time"] for r in rows),
            "seconds": sum(r["epoch_time"] + r["eval_time"] for r in rows)}


def how_it_runs(setup: dict) -> str:
    """Where the setup's augmentation runs on this machine's CPU: batched ops, a batched policy, or per image."""
    if setup.get("policy"):
        return "batched (one draw per batch)" if Policy(setup["policy"], "cpu").batched else "per image"
    return "batched (per-image draws)"


def summarize(results: list[dict]) -> list[dict]:
    """Mean and spread over seeds per setup."""
    table = []
    for name in SETUPS:
        rows = [r for r in results if r["setup"] == name]
        if rows:
            accs = [r["test_accuracy"] for r in rows]
            table.append({"setup": name, "runs": how_it_runs(SETUPS[name]), "seeds": len(rows),
                          "test_acc_mean": statistics.mean(accs),
                          "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                          "train_acc_mean": statistics.mean(r["train_accuracy"] for r in rows),
                          "epoch_time_median": statistics.median(r["epoch_time_median"] for r in rows)})
    return table


def main() -> None:
    """Run every setup for every seed (seed-major, so a partial run already compares all setups) and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/cifar10k")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--runs", type=Path, default=Path("runs/policies"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/policies.json"))
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpu_count": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__}
    results = []
    for seed in args.seeds:
        for name in args.setups:
            results.append(run_setup(args.data, name, seed, args.epochs, args.runs))
            args.out.write_text(json.dumps({"machine": machine, "recipe": "lesson", "epochs": args.epochs,
                                            "data": args.data, "setups": {k: SETUPS[k] for k in args.setups},
                                            "table": summarize(results), "results": results}, indent=2) + "\n")
    for row in summarize(results):
        print(f"{row['setup']:>26}: {row['test_acc_mean']:.2%} ± {row['test_acc_std']:.2%}, "
              f"{row['epoch_time_median']:.1f} s/epoch")
    print(args.out)


if __name__ == "__main__":
    main()
