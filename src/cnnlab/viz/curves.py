"""Training curves of one or more runs: loss, accuracy and learning rate by epoch, runs overlaid."""

from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.run.directory import RunDir
from cnnlab.viz.plots import plt, save_figure

PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_acc", "val_acc")), ("learning rate", ("lr",)))


def save_curves(runs: list[str | Path], path: Path) -> Path:
    """Three panels (loss, accuracy, lr); each run one colour, training dashed and validation solid."""
    histories = []
    for run in runs:
        rows = RunDir.open(run).read_metrics()
        if not rows:
            raise CnnlabError(f"{run} has no metrics yet (metrics.jsonl is empty)")
        histories.append((Path(run).name, rows))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4))
    for colour, (name, rows) in enumerate(histories):
        epochs = [row["epoch"] for row in rows]
        for ax, (label, keys) in zip(axes, PANELS):
            for key in keys:
                style = "--" if key.startswith("train") else "-"
                ax.plot(epochs, [row[key] for row in rows], style, color=f"C{colour}", label=f"{name} {key}")
            ax.set(xlabel="epoch", title=label)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
