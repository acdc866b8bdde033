"""The command-line interface: parse options, call the pipeline, pick a reporter, set the exit code.

Each command group lives in its own module with a ``register(app)`` function; this module only assembles them.
``doctor`` (with ``snapshot`` and ``checks``) is registered eagerly; the others are imported only when run or
listed in ``--help`` (``LAZY_COMMANDS``): ``gpucheck doctor`` never imports jinja2, the Docker SDK or torch.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

from gpucheck import __version__
from gpucheck.cli import doctor
from gpucheck.cli.exit_codes import ExitCode

LAZY_COMMANDS: dict[str, str] = {
    "bench-smoke": "gpucheck.cli.bench",
    "setup": "gpucheck.cli.setup",
    "image": "gpucheck.cli.image",
    "fleet": "gpucheck.cli.fleet",
}
"""Command name → the module whose ``register(app)`` adds it, imported on first use."""


class LazyGroup(TyperGroup):
    """The root group: lists the lazy commands and builds one from its module when it is asked for."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # noqa: D102 - click's contract
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: typer.Context, cmd_name: str):  # noqa: D102, ANN201 - click's contract
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(_load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


def _load(name: str):  # noqa: ANN202 - a click command
    holder = typer.Typer(rich_markup_mode="rich")
    holder.callback()(lambda: None)  # a callback keeps the holder a group even with one command
    importlib.import_module(LAZY_COMMANDS[name]).register(holder)
    return typer.main.get_command(holder).commands[name]


app = typer.Typer(
    name="gpucheck",
    help="Set up and verify GPU/CUDA environments for machine-learning work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gpucheck {__version__}")
        raise typer.Exit(int(ExitCode.OK))


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Set up and verify GPU/CUDA environments for machine-learning work."""


doctor.register(app)


def main() -> None:
    """Console-script entry point; a crash inside gpucheck is one line and exit code 3, never a traceback."""
    try:
        app(prog_name="gpucheck")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("gpucheck: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence
        sys.stderr.write(
            f"gpucheck: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in gpucheck; please report it with the command line you ran.\n"
        )
        sys.exit(int(ExitCode.INTERNAL))
