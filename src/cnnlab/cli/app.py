"""The `cnnlab` Typer application: registers every verb and turns user errors into one line."""

import sys

import typer
from rich.markup import escape

from cnnlab import __version__, events
from cnnlab.cli import augment_preview as augment_cli
from cnnlab.cli import calibrate as calibrate_cli
from cnnlab.cli import compare as compare_cli
from cnnlab.cli import evaluate as evaluate_cli
from cnnlab.cli import explain as explain_cli
from cnnlab.cli import export as export_cli
from cnnlab.cli import lr_find as lr_find_cli
from cnnlab.cli import models as models_cli
from cnnlab.cli import ops as ops_cli
from cnnlab.cli import report as report_cli
from cnnlab.cli import serve as serve_cli
from cnnlab.cli import shape as shape_cli
from cnnlab.cli import summary as summary_cli
from cnnlab.cli import train as train_cli
from cnnlab.cli import viz as viz_cli
from cnnlab.cli.console import RichReporter, console, flag
from cnnlab.errors import CnnlabError

app = typer.Typer(
    name="cnnlab",
    help="Convolutional neural networks on images: the math, the models, training and insight.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(ops_cli.app, name="ops")
app.add_typer(viz_cli.app, name="viz")
app.add_typer(augment_cli.app, name="augment")
app.command("models", epilog=models_cli.EPILOG)(models_cli.models)
app.command("shape", epilog=shape_cli.EPILOG)(shape_cli.shape)
app.command("summary", epilog=summary_cli.EPILOG)(summary_cli.summary)


app.command("train", epilog=train_cli.EPILOG)(train_cli.train)
app.command("lr-find", epilog=lr_find_cli.EPILOG)(lr_find_cli.lr_find)
app.command("evaluate", epilog=evaluate_cli.EVALUATE_EPILOG)(evaluate_cli.evaluate)
app.command("predict", epilog=evaluate_cli.PREDICT_EPILOG)(evaluate_cli.predict)
app.command("calibrate", epilog=calibrate_cli.EPILOG)(calibrate_cli.calibrate)
app.command("report", epilog=report_cli.EPILOG)(report_cli.report)
app.command("compare", epilog=compare_cli.EPILOG)(compare_cli.compare)
app.command("export", epilog=export_cli.EPILOG)(export_cli.export)
app.command("serve", epilog=serve_cli.EPILOG)(serve_cli.serve)
app.command("explain", epilog=explain_cli.EPILOG)(explain_cli.explain)


def _version(value: bool) -> None:
    """Print the version and exit."""
    if value:
        print(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Convolutional neural networks on images: the math, the models, training and insight."""
    ctx.with_resource(events.reporting(RichReporter()))  # the library's events are drawn while the verb runs


def main() -> None:
    """Run the CLI; a CnnlabError becomes `error: <message>` (its setting names spelled as flags) on stderr and exit
    code 2."""
    try:
        app()
    except CnnlabError as err:
        console.print(f"[bold red]error:[/] {escape(err.render(flag))}")
        sys.exit(2)
