"""The ``pros`` command line: a thin root that composes each package's commands.

Each package's ``cli`` module imports only light modules at import time, so ``pros --help`` stays fast.
"""

from __future__ import annotations

import typer

import curation.cli
import downstream.cli
import shards.cli
import training.cli
from pros import __version__
from pros.config_cli import app as config_app
from pros.demo.cli import demo
from pros.doctor import doctor
from pros.help_format import use_readable_help

app = typer.Typer(
    name="pros",
    help="Curate face-dominant data from raw image dumps, pre-train a face representation with ProS, "
    "and evaluate it on face benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pros {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
) -> None:
    """pros: curate -> train -> eval for face representations."""


app.command(help="Show versions, accelerators and which model weights are available offline.")(doctor)
curation.cli.register(app)
training.cli.register(app)
downstream.cli.register(app)
app.command(help="Run curate -> train -> export -> eval on real images from installed packages.")(demo)
app.add_typer(shards.cli.app, name="shards", help="Check, summarize and look at shard directories.")
app.add_typer(config_app, name="config", help="Print the resolved configuration of a command as YAML.")
use_readable_help(app)
