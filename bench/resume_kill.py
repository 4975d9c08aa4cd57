"""Benchmark: the lesson recipe killed with SIGKILL mid-epoch and resumed ends where an uninterrupted run ends.

Runs `cnnlab train --recipe lesson` as a user would, kills it (kill -9) halfway through the epoch after
--kill-after, resumes it with `cnnlab train --resume`, and compares its final accuracy with the uninterrupted
run recorded by bench/lesson_speed.py (same recipe, seed and data).

    python bench/resume_kill.py --data /tmp/cifar10 --epochs 30 --kill-after 12 --out bench/results/resume_kill.json
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def metrics(run: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl so far."""
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def train_command(*args: str) -> list[str]:
    """`cnnlab train ...` in this interpreter."""
    return [sys.executable, "-m", "cnnlab", "train", *args]


def kill_mid_epoch(command: list[str], run: Path, kill_after: int) -> dict:
    """Start a run, SIGKILL it halfway through epoch kill_after + 1; report when and what was on disk."""
    process = subprocess.Popen(command)
    while len(metrics(run)) < kill_after:
        if process.poll() is not None:
            raise SystemExit(f"the run ended before epoch {kill_after}")
        time.sleep(0.5)
    rows = metrics(run)
    time.sleep(rows[-1]["epoch_time"] / 2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return {"killed_in_epoch": len(metrics(run)) + 1, "epochs_on_disk_when_killed": len(metrics(run))}


def main() -> None:
    """Kill, resume, compare, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="image folder with train/ and test/")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--kill-after", type=int, default=12, help="kill during the epoch after this one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, default=Path("bench/results/lesson_speed.json"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/resume_kill.json"))
    args = parser.parse_args()
    runs = Path("runs/bench-resume")
    run = runs / f"killed-{time.strftime('%Y%m%d-%H%M%S')}"
    first = train_command("--data", str(args.data), "--recipe", "lesson", "--epochs", str(args.epochs),
                          "--seed", str(args.seed), "--out", str(runs), "--name", run.name)
    result = kill_mid_epoch(first, run, args.kill_after)
    subprocess.run(train_command("--resume", str(run)), check=True)
    rows = metrics(run)
    result["epochs_logged"] = [r["epoch"] for r in rows]
    result["resumed_test_accuracy"] = rows[-1]["val_acc"]
    reference = json.loads(args.reference.read_text())["cnnlab"]
    result["uninterrupted_test_accuracy"] = reference["test_accuracy"]
    result["difference_points"] = 100 * (result["resumed_test_accuracy"] - reference["test_accuracy"])
    result["run_dir"] = str(run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
