"""Where each epoch's metrics go: metrics.jsonl, TensorBoard events and a line on the console."""

from types import TracebackType

from cnnlab.console import console
from cnnlab.run import RunDir

SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "lr": "lr",
    "images_per_s": "speed/images_per_s",
    "epoch_time": "time/epoch_s",
}


class Logbook:
    """Appends epoch rows to the run's metrics.jsonl and TensorBoard, and prints them."""

    def __init__(self, run: RunDir, epochs: int, first_epoch: int = 1) -> None:
        """Open the TensorBoard writer (dropping events past `first_epoch - 1`, as after a resume)."""
        from torch.utils.tensorboard import SummaryWriter

        self.run, self.epochs = run, epochs
        self.writer = SummaryWriter(str(run.path / "tensorboard"), purge_step=first_epoch)

    def write(self, row: dict) -> None:
        """Record one epoch."""
        self.run.append_metrics(row)
        for key, tag in SCALARS.items():
            self.writer.add_scalar(tag, row[key], row["epoch"])
        self.writer.flush()
        console.print(
            f"epoch {row['epoch']:>3}/{self.epochs}  "
            f"train loss {row['train_loss']:.4f} acc{' (dominant label)' if 'train_acc_of' in row else ''} "
            f"{row['train_acc']:6.2%}  "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:6.2%}  "
            f"lr {row['lr']:.2e}  {row['images_per_s']:,.0f} img/s  {row['epoch_time']:.1f}s"
        )

    def __enter__(self) -> "Logbook":
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        """Close the TensorBoard writer."""
        self.writer.close()
