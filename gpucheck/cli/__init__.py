"""The command-line interface: parse options, call the pipeline, pick a reporter, set the exit code.

Each command group lives in its own module with a ``register(app)`` function; this module only assembles them.
"""

from __future__ import annotations

import sys

import typer

from gpucheck import __version__
from gpucheck.cli import bench, doctor, explain, fleet, image, setup
from gpucheck.cli.exit_codes import ExitCode
from gpucheck.collect.run import install_signal_handlers

app = typer.Typer(
    name="gpucheck",
    help="Set up and verify GPU/CUDA environments for machine-learning work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
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


for _module in (doctor, bench, setup, image, fleet, explain):
    _module.register(app)


def main() -> None:
    """Console-script entry point; a crash inside gpucheck is one line and exit code 3, never a traceback."""
    install_signal_handlers()  # NOTE: SIGTERM/SIGHUP stop every probe's process group before exiting
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
