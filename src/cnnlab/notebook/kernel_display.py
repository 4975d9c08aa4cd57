"""What `import cnnlab` sets up in a Jupyter kernel: the library's events drawn in the cell that runs, and the
library's results (a model summary, a learning-rate range test) shown as HTML. Both are registered from here, IPython's
formatters by the results' type names, so the library never imports the notebook and torch loads only when used."""

from collections.abc import Callable

from cnnlab import events
from cnnlab.notebook.reporter import NotebookReporter

SHOWN_AS_HTML = {("cnnlab.analysis.summary", "Summary"): "summary_html", ("cnnlab.train.lr_find", "LRFind"): "lr_find_html"}


def drawn_by(view: str) -> Callable[[object], str]:
    """A formatter that draws a result with notebook/views.py's `view` (imported when a result is first shown)."""
    def draw(result: object) -> str:
        from cnnlab.notebook import views

        return getattr(views, view)(result)

    return draw


def install(shell: object) -> None:
    """Register the notebook reporter and the HTML views with the kernel's IPython shell."""
    events.draw_in_kernels(NotebookReporter)
    html = shell.display_formatter.formatters["text/html"]
    for (module, name), view in SHOWN_AS_HTML.items():
        html.for_type_by_name(module, name, drawn_by(view))
