"""What the command line draws: the shared Rich console, and the reporter that turns the library's events into lines
and progress bars on it."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cnnlab import events
from cnnlab.errors import spell

console = Console(stderr=True, highlight=False, soft_wrap=True)


def flag(name: str) -> str:
    """A setting's or parameter's name as the command line spells it: `val_split` → --val-split."""
    return "--" + name.replace("_", "-")


def as_flags(text: str) -> str:
    """A library message with its backticked names spelled as flags, escaped for Rich markup."""
    return escape(spell(text, flag))


class RichReporter(events.Reporter):
    """Draws the library's events on the console: one line each, warnings in yellow, progress bars on a terminal."""

    def emit(self, event: events.Event) -> None:
        """Print the event."""
        if isinstance(event, events.Note) and event.warning:
            console.print(f"[yellow]warning:[/] {as_flags(event.line())}")
        elif isinstance(event, events.FileSkipped):
            console.print(f"[yellow]skipped[/] {escape(event.path)}: {escape(event.reason)}")
        else:
            console.print(as_flags(event.line()))
        skipped = getattr(event, "skipped", ())
        if skipped:
            console.print(f"[yellow]skipped {len(skipped)} unusable files:[/]")
            for path, reason in skipped:
                console.print(f"  {escape(path)}: {escape(reason)}")

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A transient progress bar on stderr (drawn only on a terminal); yields `advance(n)`."""
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)
