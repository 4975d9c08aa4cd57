"""Where each epoch's metrics are kept: metrics.jsonl and TensorBoard events in the run directory."""

from types import TracebackType

from cnnlab.run.directory import RunDir

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
    """Appends epoch rows to the run's metrics.jsonl and TensorBoard."""

    def __init__(self, run: RunDir, first_epoch: int = 1) -> None:
        """Open the TensorBoard writer (dropping events past `first_epoch - 1`, as after a resume)."""
        from torch.utils.tensorboard import SummaryWriter

        self.run = run
        self.writer = SummaryWriter(str(run.path / "tensorboard"), purge_step=first_epoch)

    def write(self, row: dict) -> None:
        """Record one epoch."""
        self.run.append_metrics(row)
        for key, tag in SCALARS.items():
            self.writer.add_scalar(tag, row[key], row["epoch"])
        self.writer.flush()

    def __enter__(self) -> "Logbook":
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        """Close the TensorBoard writer."""
        self.writer.close()
