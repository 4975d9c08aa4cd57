"""The library's events drawn in the notebook cell that runs: notes as lines, one live progress bar, and the epochs
as a table that grows (as fastai's `fit` shows them).

Everything is an IPython display with an id, updated in place; a display belongs to the cell that created it, so a
new cell starts new ones. Each display carries text/plain beside the HTML, which is what a console front end (and a
notebook converted to text) shows.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape

from cnnlab import events

EPOCH_COLUMNS = (("epoch", "epoch", "{}"), ("train loss", "train_loss", "{:.4f}"), ("train acc", "train_acc", "{:.2%}"),
                 ("val loss", "val_loss", "{:.4f}"), ("val acc", "val_acc", "{:.2%}"), ("lr", "lr", "{:.2e}"),
                 ("img/s", "images_per_s", "{:,.0f}"), ("time", "epoch_time", "{:.1f}s"))
REDRAW_SECONDS = 0.25  # a bar redraws at most this often (each redraw is a message to the front end)


def clock(seconds: float) -> str:
    """Seconds as m:ss."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def bar_html(description: str, done: int, total: int, elapsed: float) -> str:
    """A progress bar with its count, the time so far and the time left."""
    left = elapsed / done * (total - done) if done else 0.0
    return (f'<div class="cnnlab-progress"><progress value="{done}" max="{max(total, 1)}" style="width:40ch"></progress> '
            f"{escape(description)} {done}/{total} [{clock(elapsed)}&lt;{clock(left)}]</div>")


def bar_text(description: str, done: int, total: int, elapsed: float) -> str:
    """The bar's line for a console front end."""
    filled = round(30 * done / max(total, 1))
    return f"{description} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {clock(elapsed)}"


def epoch_cells(row: dict) -> list[str]:
    """One metrics row as the table's cells (a column the row lacks stays empty)."""
    return [form.format(row[key]) if key in row else "" for _, key, form in EPOCH_COLUMNS]


def epochs_html(rows: list[dict]) -> str:
    """The epochs so far as a table."""
    head = "".join(f"<th>{escape(name)}</th>" for name, _, _ in EPOCH_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in epoch_cells(row)) + "</tr>" for row in rows)
    return f'<table class="cnnlab-epochs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Live:
    """One display in the output of a cell, drawn once and then updated in place."""

    def __init__(self) -> None:
        """Not shown until the first `draw`."""
        self.handle = None

    def draw(self, html: str, text: str) -> None:
        """Show (the first time) or replace the display's content."""
        from IPython.display import display

        bundle = {"text/html": html, "text/plain": text}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


class NotebookReporter(events.Reporter):
    """Draws events in the running cell: a log of notes (warnings in colour), a progress bar that each new task
    reuses, and a table of the epochs."""

    def __init__(self) -> None:
        """Nothing drawn yet."""
        self.cell: object = None
        self.start_cell()

    def start_cell(self) -> None:
        """Forget the displays of an earlier cell."""
        self.notes: list[events.Note] = []
        self.rows: list[dict] = []
        self.log, self.bar, self.table = Live(), Live(), Live()

    def this_cell(self) -> None:
        """Start new displays when a new cell runs (the shell counts executions)."""
        from IPython import get_ipython

        shell = get_ipython()
        cell = shell.execution_count if shell is not None else None
        if cell != self.cell:
            self.cell = cell
            self.start_cell()

    def emit(self, event: events.Event) -> None:
        """Add the event to the log, or its epoch to the table."""
        self.this_cell()
        if isinstance(event, events.EpochEnd):
            self.rows.append(event.row)
            self.table.draw(epochs_html(self.rows),
                            "\n".join(events.EpochEnd(row, event.epochs).line() for row in self.rows))
            return
        notes = [events.Note(event.line(), getattr(event, "warning", False))]
        notes += [events.Note(f"skipped {path}: {reason}", True) for path, reason in getattr(event, "skipped", ())]
        self.notes += notes
        html = "".join(f'<div style="color:#b35c00">warning: {escape(n.text)}</div>' if n.warning
                       else f"<div>{escape(n.text)}</div>" for n in self.notes)
        self.log.draw(f'<div class="cnnlab-log" style="font-family:monospace">{html}</div>',
                      "\n".join(("warning: " if n.warning else "") + n.text for n in self.notes))

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """Draw the task on the cell's bar as it advances (at most every REDRAW_SECONDS, and at its end)."""
        self.this_cell()
        start, state = time.monotonic(), {"done": 0, "drawn": -1.0}

        def draw() -> None:
            elapsed = time.monotonic() - start
            self.bar.draw(bar_html(description, state["done"], total, elapsed),
                          bar_text(description, state["done"], total, elapsed))
            state["drawn"] = time.monotonic()

        def advance(n: int = 1) -> None:
            state["done"] += n
            if time.monotonic() - state["drawn"] >= REDRAW_SECONDS:
                draw()

        draw()
        try:
            yield advance
        finally:
            draw()
