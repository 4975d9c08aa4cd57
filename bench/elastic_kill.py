"""Benchmark: torchrun jobs whose worker is killed with SIGKILL at a random step finish where uninterrupted ones do.

Each trial runs `cnnlab train` as a 2-process torchrun job (`--standalone --max-restarts 3`, gloo, fp32) on the
embedded sample (or its first --per-class images of each class, linked into a folder) with a checkpoint every
--checkpoint-every steps, SIGKILLs one worker chosen at random as soon as the checkpoint before a random step is
written, and lets torchrun restart the group (a job that ended before its kill was due is run again). Per trial:
whether the job finished, how many times torchrun restarted it, the step resumed from, at most how many steps were
done again (the steps since the last checkpoint before the kill: fewer than the next checkpoint's step), the run
directories made (1), the metrics rows (each epoch once), the final accuracy and how far the final weights are
from the uninterrupted job's. Uninterrupted jobs with other seeds give the noise.

    python bench/elastic_kill.py --trials 10 --epochs 4 --per-class 50 --batch-size 50 --checkpoint-every 3 \
        --noise-seeds 1 --out bench/results/elastic_kill.json
"""

import argparse
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from cnnlab.data.sources import SAMPLE_DIR
from cnnlab.run.checkpoint import load_checkpoint

JOB_LIMIT_S = 1200


def subset(folder: Path, per_class: int) -> Path:
    """The sample's first `per_class` training and `per_class // 2` test images of each class, linked into `folder`."""
    for split, count in (("train", per_class), ("test", max(1, per_class // 2))):
        for class_dir in sorted((SAMPLE_DIR / split).iterdir()):
            target = folder / split / class_dir.name
            target.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:count]:
                (target / image.name).symlink_to(image.resolve())
    return folder


def command(args: argparse.Namespace, out: Path, name: str, seed: int) -> list[str]:
    """The torchrun job of one trial."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.nproc),
            "--max-restarts", "3", "--monitor-interval", "0.5", "-m", "cnnlab", "train", "--data", args.data,
            "--model", args.model,
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--precision", "fp32",
            "--seed", str(seed), "--checkpoint-every", str(args.checkpoint_every), "--dist-timeout", "120",
            "--out", str(out), "--name", name]


def environment() -> dict[str, str]:
    """One thread per worker (the job's processes share a small CPU); notes on one line each."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}  # one line per note: the resume is read back


def checkpoint_step(run: Path) -> int:
    """The step of the run's last checkpoint (0 before the first); read from the safetensors header only."""
    path = run / "checkpoints" / "last.safetensors"
    try:
        with open(path, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        return json.loads(header["__metadata__"]["cnnlab"])["step"]
    except (OSError, ValueError, KeyError):
        return 0


def workers(agent: int) -> dict[int, int]:
    """The job's worker processes (children of the torchrun agent) by their RANK."""
    found = {}
    for child in subprocess.run(["pgrep", "-P", str(agent)], capture_output=True, text=True).stdout.split():
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        rank = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"RANK=")]
        if rank:
            found[int(rank[0])] = int(child)
    return found


def rows(run: Path) -> list[dict]:
    """The run's metrics rows."""
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    """The weights of the run's last checkpoint."""
    return load_checkpoint(run / "checkpoints" / "last.safetensors")[0]["model"]


def uninterrupted(args: argparse.Namespace, out: Path, seed: int) -> dict:
    """An uninterrupted job: its wall time, steps, final accuracy."""
    name = f"straight-seed{seed}"
    start = time.perf_counter()
    subprocess.run(command(args, out, name, seed), env=environment(), check=True, capture_output=True,
                   timeout=JOB_LIMIT_S)
    wall = time.perf_counter() - start
    return {"seed": seed, "wall_s": round(wall, 1), "steps": checkpoint_step(out / name),
            "val_acc": rows(out / name)[-1]["val_acc"]}


def trial(args: argparse.Namespace, out: Path, index: int, rng: random.Random, steps: int) -> dict:
    """Start a job, kill a random worker once the checkpoint before a random step is written, let torchrun restart
    the group, and check what the job left."""
    name, every = f"trial-{index}", args.checkpoint_every
    target = rng.randrange(every, steps - every)  # after the first checkpoint, before the last one
    victim = rng.randrange(args.nproc)
    job = subprocess.Popen(command(args, out, name, args.seed), env=environment(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    started, killed, pids = time.monotonic(), None, {}
    while killed is None and job.poll() is None and time.monotonic() - started < JOB_LIMIT_S:
        reached = checkpoint_step(out / name)
        if reached and len(pids) < args.nproc:
            pids = workers(job.pid)  # looked up before the kill is due: the kill itself is immediate
        if reached >= target - target % every and victim in pids:
            os.kill(pids[victim], signal.SIGKILL)
            killed = checkpoint_step(out / name)  # read again: the last checkpoint before the kill
        time.sleep(0.02)
    try:
        output = job.communicate(timeout=JOB_LIMIT_S)[0]
    except subprocess.TimeoutExpired:
        job.kill()
        output = job.communicate()[0]
    wall = time.monotonic() - started
    resumed = re.search(r"resuming .* after epoch (\d+)(?:, step (\d+) of epoch \d+)?", output)
    steps_per_epoch = steps // args.epochs
    resumed_step = int(resumed[1]) * steps_per_epoch + int(resumed[2] or 0) if resumed else None
    # the job had done fewer steps at the kill than the next checkpoint's (not yet written), at most every - 1 more
    redone = killed + every - 1 - resumed_step if resumed and killed is not None else None
    logged = [r["epoch"] for r in rows(out / name)]
    runs_made = [p.name for p in out.iterdir() if p.name.startswith(name)]
    result = {
        "trial": index, "finished": job.returncode == 0, "killed_rank": victim, "killed": killed is not None,
        "target_step": target, "checkpoint_step_at_kill": killed, "resumed_from_step": resumed_step,
        "restarts": max((int(n) for n in re.findall(r"\(restart (\d+)\)", output)), default=0),
        "steps_redone_at_most": redone,
        "epochs_lost_at_most": round(redone / steps_per_epoch, 3) if redone is not None else None,
        "wall_s": round(wall, 1), "run_dirs": runs_made,
        "rows_complete": logged == list(range(1, args.epochs + 1)), "epochs_logged": logged,
    }
    if job.returncode == 0:
        result["val_acc"] = rows(out / name)[-1]["val_acc"]
    else:
        result["output_tail"] = output[-2000:]
    return result


def main() -> None:
    """Uninterrupted jobs, then the kill trials; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="simplecnn")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--checkpoint-every", type=int, default=10)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=None, help="train on this many images per class of the sample")
    parser.add_argument("--noise-seeds", type=int, default=2, help="uninterrupted jobs with other seeds")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-elastic"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/elastic_kill.json"))
    args = parser.parse_args()
    out = args.runs / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    args.data = str(subset(out.with_name(out.name + "-data"), args.per_class)) if args.per_class else "sample"
    rng = random.Random(args.seed)
    straight = [uninterrupted(args, out, seed) for seed in range(args.seed, args.seed + 1 + args.noise_seeds)]
    reference = final_weights(out / f"straight-seed{args.seed}")
    trials, index = [], 0
    while sum(t["killed"] for t in trials) < args.trials and index < 2 * args.trials:
        trials.append(trial(args, out, index, rng, straight[0]["steps"]))
        if trials[-1]["finished"]:
            weights = final_weights(out / f"trial-{index}")
            trials[-1]["max_weight_difference"] = max(float((weights[k] - v).abs().max()) for k, v in reference.items())
        print(json.dumps(trials[-1]), flush=True)
        write_report(args, straight, trials)  # after every trial: an interrupted benchmark keeps what it measured
        index += 1


def write_report(args: argparse.Namespace, straight: list[dict], trials: list[dict]) -> None:
    """The JSON: a summary, the uninterrupted jobs and every trial."""
    trials = [t for t in trials if t["killed"]]  # a job that ended before its kill was due is no trial
    done = [t for t in trials if t["finished"]]
    accuracies = [t["val_acc"] for t in done]
    summary = {
        "finished": f"{len(done)}/{len(trials)}",
        "rows_complete": f"{sum(t.get('rows_complete', False) for t in trials)}/{len(trials)}",
        "one_run_dir": f"{sum(len(t.get('run_dirs', [])) == 1 for t in trials)}/{len(trials)}",
        "max_epochs_lost": max((t["epochs_lost_at_most"] for t in done if t["epochs_lost_at_most"] is not None),
                               default=None),
        "resumed_from_the_last_checkpoint":
            f"{sum(t['resumed_from_step'] == t['checkpoint_step_at_kill'] for t in trials)}/{len(trials)}",
        "restarts": [t["restarts"] for t in trials],
        "val_acc_trials": [min(accuracies, default=None), max(accuracies, default=None)],
        "val_acc_uninterrupted_same_seed": straight[0]["val_acc"],
        "val_acc_uninterrupted_other_seeds": [s["val_acc"] for s in straight[1:]],
        "max_weight_difference_to_uninterrupted": max((t["max_weight_difference"] for t in done), default=None),
    }
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared",
              "command": " ".join(["python", *sys.argv]),
              "settings": vars(args) | {"runs": str(args.runs), "out": str(args.out)},
              "summary": summary, "uninterrupted": straight, "trials": trials}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
