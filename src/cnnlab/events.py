"""What the library tells its user while it works: typed events, sent to one reporter that the caller chooses.

The library never prints. A script gets warnings through the `logging` module (the default reporter); a Jupyter
kernel gets live progress bars and tables in the cell that runs (cnnlab.notebook.reporter, the default there); the
command line installs a reporter that draws the events with Rich; a test can install its own, or `Reporter()`, which
stays silent.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

LOG = logging.getLogger("cnnlab")


@dataclass(frozen=True)
class Note:
    """A sentence worth telling the user: a choice made for them, a notice, or (warning) something to act on."""

    text: str
    warning: bool = False

    def line(self) -> str:
        """The note as one line."""
        return self.text


@dataclass(frozen=True)
class DataReady:
    """A dataset was loaded: its splits, classes and input, and every file that could not be used."""

    name: str
    train: int
    val: int
    classes: int
    input_shape: tuple[int, int, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    multi_label: bool = False

    def line(self) -> str:
        """What was loaded, in one line."""
        kinds = "labels (multi-label: any number per image)" if self.multi_label else "classes"
        return (f"data: {self.name}: {self.train} train / {self.val} val images, {self.classes} {kinds}, "
                f"input {'x'.join(map(str, self.input_shape))}")


@dataclass(frozen=True)
class FileSkipped:
    """A file that could not be used (the first time it is met while streaming from disk)."""

    path: str
    reason: str

    def line(self) -> str:
        """The file and why."""
        return f"skipped {self.path}: {self.reason}"


@dataclass(frozen=True)
class EpochEnd:
    """An epoch's metrics row (as metrics.jsonl holds it), how many epochs the run has, and the seconds its remaining
    epochs will take at the pace so far."""

    row: dict
    epochs: int
    seconds_left: float = 0.0

    def line(self) -> str:
        """The row as the training log shows it."""
        row = self.row
        dominant = " (dominant label)" if "train_acc_of" in row else ""
        left = f"  {duration(self.seconds_left)} left" if row["epoch"] < self.epochs else ""
        ranked = f" mAP {row['val_map']:6.2%} F1 {row['val_f1']:6.2%}" if "val_map" in row else ""
        return (f"epoch {row['epoch']:>3}/{self.epochs}  train loss {row['train_loss']:.4f} acc{dominant} "
                f"{row['train_acc']:6.2%}  val loss {row['val_loss']:.4f} acc {row['val_acc']:6.2%}{ranked}  "
                f"lr {row['lr']:.2e}  {row['images_per_s']:,.0f} img/s  {row['epoch_time']:.1f}s{left}")


def duration(seconds: float) -> str:
    """Seconds as people say them: 45s, 12m 5s, 2h 3m."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


Event = Note | DataReady | FileSkipped | EpochEnd


class Reporter:
    """Receives the library's events and draws its progress; this base class drops both (silence)."""

    def emit(self, event: Event) -> None:
        """Take one event."""

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A task of `total` steps; yields `advance(n)`."""
        yield lambda n=1: None


class LogReporter(Reporter):
    """Events as records of the `cnnlab` logger: warnings show in any script, the rest when logging is set up."""

    def emit(self, event: Event) -> None:
        """Log the event's line (a warning note, or a data report with skipped files, at WARNING level)."""
        LOG.log(logging.WARNING if getattr(event, "warning", False) else logging.INFO, event.line())
        for path, reason in getattr(event, "skipped", ()):
            LOG.warning("skipped %s: %s", path, reason)


_current: Reporter | None = None  # None: the default for where this process runs (chosen on first use)
_default: Reporter | None = None
_kernel_reporter: Callable[[], Reporter] | None = None  # what a Jupyter kernel draws with (set by cnnlab.notebook)


def draw_in_kernels(make: Callable[[], Reporter]) -> None:
    """Make the default reporter inside a Jupyter kernel `make()` (the notebook registers itself: the library never
    imports it)."""
    global _kernel_reporter, _default
    _kernel_reporter, _default = make, None


def default_reporter() -> Reporter:
    """The kernel's reporter inside a Jupyter kernel (once registered), the logging one elsewhere."""
    global _default
    if _default is None:
        from cnnlab.kernel import in_kernel

        _default = _kernel_reporter() if _kernel_reporter is not None and in_kernel() else LogReporter()
    return _default


def reporter() -> Reporter:
    """The reporter that events go to now."""
    return _current if _current is not None else default_reporter()


def quiet() -> "contextmanager":
    """A block in which the library reports nothing (no log lines, no progress bars)."""
    return reporting(Reporter())


@contextmanager
def reporting(to: Reporter) -> Iterator[Reporter]:
    """Send events to `to` inside the block (every thread's), then back to the previous reporter."""
    global _current
    previous, _current = _current, to
    try:
        yield to
    finally:
        _current = previous


def emit(event: Event) -> None:
    """Send an event to the current reporter."""
    reporter().emit(event)


def note(text: str, warning: bool = False) -> None:
    """Tell the user one sentence."""
    reporter().emit(Note(text, warning))


def progress(description: str, total: int) -> "contextmanager":
    """A progress task on the current reporter; yields `advance(n)`."""
    return reporter().progress(description, total)
