"""Benchmark: the degradation problem (He et al., 2015, figure 6): plain and residual CIFAR networks of growing depth.

For each depth, trains plain<depth> and resnet<depth> with the same recipe (SGD 0.1, momentum 0.9, weight decay
1e-4, 2 warmup epochs then cosine, batch 128, crop+flip; bf16 where the CPU runs it faster) and records the final
training and validation error, the epoch time, and the gradient norms per layer at initialisation and after
training (the `cnnlab viz gradflow` curves). Writes one JSON, one gradflow PNG per depth and one plot of training
loss by epoch for every model (plain solid, residual dashed: the paper's figure 6).

    python bench/depth.py --data /tmp/cifar10k --depths 8 20 56 --epochs 10 --out bench/results/depth.json
"""

import argparse
import json
import logging
import time
from pathlib import Path

from cnnlab.settings import resolve
from cnnlab.train.fit import fit
from cnnlab.viz.gradflow import gradient_flows, save_gradflow

RECIPE = dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="cosine", batch_size=128,
              crop_padding=4, flip=True, warmup_epochs=2, precision="fastest")


def train_pair(data: str, depth: int, epochs: int, runs: Path, seed: int) -> list[dict]:
    """Train plain<depth> and resnet<depth>; their last epoch's metrics and the runs' directories."""
    rows = []
    for kind in ("plain", "resnet"):
        model = f"{kind}{depth}"
        config = resolve(data=data, model=model, epochs=epochs, seed=seed, out=str(runs),
                         name=f"{model}-s{seed}", **RECIPE)
        start = time.perf_counter()
        result = fit(config)
        last = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
        rows.append({"model": model, "depth": depth, "run": str(result.run_dir), "seconds": time.perf_counter() - start,
                     "train_error": 1 - last["train_acc"], "val_error": 1 - last["val_acc"],
                     "best_val_accuracy": result.best_accuracy, "epoch_time": last["epoch_time"]})
    return rows


def save_loss_plot(results: list[dict], path: Path) -> Path:
    """Training loss by epoch of every run: one colour per depth, plain solid, residual dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    depths = sorted({row["depth"] for row in results})
    for row in results:
        lines = (Path(row["run"]) / "metrics.jsonl").read_text().splitlines()
        losses = [json.loads(line)["train_loss"] for line in lines]
        color = plt.cm.viridis(depths.index(row["depth"]) / max(1, len(depths) - 1))
        style = "-" if row["model"].startswith("plain") else "--"
        ax.plot(range(1, len(losses) + 1), losses, color=color, linestyle=style, label=row["model"])
    ax.set(xlabel="epoch", ylabel="training loss", title="plain (solid) and residual (dashed) networks by depth")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    """Run every depth and write the JSON (and the gradient-flow PNGs beside it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/cifarL")
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 32, 44, 56])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/depth"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/depth.json"))
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")  # the library reports progress through the cnnlab logger
    logging.getLogger("cnnlab").setLevel(logging.INFO)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for depth in args.depths:
        rows = train_pair(args.data, depth, args.epochs, args.runs, args.seed)
        flows = gradient_flows([row["run"] for row in rows], count=128, seed=args.seed)
        png = save_gradflow(flows, args.out.with_name(f"{args.out.stem}-gradflow-{depth}.png"))
        for row, init, trained in zip(rows, flows[0::2], flows[1::2]):
            row.update(gradflow_png=str(png), grad_norms_init=init.norms, grad_norms_trained=trained.norms)
        results.extend(rows)
        args.out.write_text(json.dumps({"recipe": RECIPE, "epochs": args.epochs, "data": args.data,
                                        "results": results}, indent=2) + "\n")
        for row in rows:
            print(f"{row['model']:>9}: train error {row['train_error']:.2%}, val error {row['val_error']:.2%}, "
                  f"{row['epoch_time']:.1f} s/epoch")
    print(save_loss_plot(results, args.out.with_name(f"{args.out.stem}-train-loss.png")))
    print(args.out)


if __name__ == "__main__":
    main()
