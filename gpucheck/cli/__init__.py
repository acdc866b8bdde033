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
from gpucheck.collect.run import install_signal_handlers

LAZY_COMMANDS: dict[str, str] = {
    "bench-smoke": "gpucheck.cli.bench",
    "setup": "gpucheck.cli.setup",
    "image": "gpucheck.cli.image",
    "fleet": "gpucheck.cli.fleet",
    "explain": "gpucheck.cli.explain",
}
"""Command name → the module whose ``register(app)`` adds it, imported on first use."""


class LazyCommands(dict):
    """The root group's commands: a lazy command is imported the first time it is looked up or listed."""

    def __missing__(self, name: str):  # noqa: ANN204 - a click command
        if name not in LAZY_COMMANDS:
            raise KeyError(name)
        self[name] = _load(name)
        return self[name]

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in LAZY_COMMANDS

    def get(self, name: str, default=None):  # noqa: ANN001, ANN201 - dict's signature
        """The command (importing a lazy one), or ``default``."""
        return self[name] if name in self else default

    def _all(self) -> None:
        for name in LAZY_COMMANDS:
            self[name]  # noqa: B018 - loads it

    def __iter__(self):  # noqa: ANN204
        self._all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        return len(set(dict.keys(self)) | set(LAZY_COMMANDS))

    def keys(self):  # noqa: ANN201, D102 - dict's contract
        self._all()
        return dict.keys(self)

    def items(self):  # noqa: ANN201, D102 - dict's contract
        self._all()
        return dict.items(self)

    def values(self):  # noqa: ANN201, D102 - dict's contract
        self._all()
        return dict.values(self)


class LazyGroup(TyperGroup):
    """The root group, whose ``commands`` import a lazy command's module only when it is needed."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003 - click's keyword arguments
        super().__init__(**kwargs)
        self.commands = LazyCommands(self.commands)


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
