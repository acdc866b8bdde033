"""``gpucheck explain``: from an error text (or pasted outputs) to its root cause.

Heavy modules are imported inside the command, so ``gpucheck --help`` stays fast.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import typer

from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""Mirrors gpucheck.explain.text.MAX_INPUT_BYTES (kept here so reading needs no heavy import)."""


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"gpucheck: error: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


def _read_input(source: str) -> tuple[bytes, bool]:
    """Up to ``MAX_INPUT_BYTES`` of FILE or stdin, and whether there was more."""
    if source == "-":
        if sys.stdin.isatty():
            raise _usage_error("no input: give a FILE, or pipe the text in (`… | gpucheck explain -`)")
        stream = sys.stdin.buffer
        data = stream.read(MAX_INPUT_BYTES + 1)
        return data[:MAX_INPUT_BYTES], len(data) > MAX_INPUT_BYTES
    path = Path(source)
    try:
        info = path.stat()
    except OSError as exc:
        raise _usage_error(f"{source}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise _usage_error(f"{source}: is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise _usage_error(f"{source}: not a regular file (FIFOs and devices are not read)")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise _usage_error(f"{source}: {exc.strerror or exc}") from None
    return data[:MAX_INPUT_BYTES], len(data) > MAX_INPUT_BYTES


def explain_command(
    source: str = typer.Argument("-", metavar="[FILE|-]", help="The text to explain (default: stdin)."),
    offline: bool = typer.Option(
        False, "--offline", help="Explain from the text alone; do not run doctor's checks on this machine."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (schema: explain.schema.json)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown (to paste back into the issue)."),
    sysroot: Path = typer.Option(Path("/"), "--sysroot", help="Live checks read host files under this root."),
    skip: list[str] | None = typer.Option(
        None,
        "--skip",
        help="Live checks to skip (check ids or layers, comma-separated), e.g. torch,tensorflow.",
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Time limit for the live checks (s)."
    ),
    python: str = typer.Option(
        "", "--python", help="Probe the frameworks of this interpreter (live checks)."
    ),
) -> None:
    """Explain an error or pasted outputs: what it means, the likely root causes, and the fix.

    Exit 0 when a cause was identified (or the text shows no failure), 1 when the text shows a failure
    gpucheck cannot explain, 2 for usage errors.
    """
    if json_out and markdown:
        raise _usage_error("--json and --markdown both print to stdout: choose one")
    skips = tuple(v.strip() for value in skip or () for v in value.split(",") if v.strip())
    raw, truncated = _read_input(source)
    if not raw.strip():
        raise _usage_error("the input is empty")

    from rich.console import Console

    from gpucheck.diagnose.registry import UnknownSelectionError, select_checks
    from gpucheck.explain.confirm import confirm
    from gpucheck.explain.engine import Status, explain_text
    from gpucheck.explain.render import render_console, render_json, render_markdown
    from gpucheck.explain.text import clean

    if skips:
        try:
            select_checks((), skips)
        except UnknownSelectionError as exc:
            raise _usage_error(str(exc)) from None
    explanation = explain_text(clean(raw, truncated=truncated))
    if not offline:
        confirm(explanation, sysroot=str(sysroot), skip=skips, timeout_s=timeout, python=python)
    code = ExitCode.FAILED if explanation.status is Status.UNEXPLAINED else ExitCode.OK
    if json_out:
        sys.stdout.write(render_json(explanation, int(code)))
    elif markdown:
        sys.stdout.write(render_markdown(explanation))
    else:
        console = Console(
            highlight=False, markup=False, emoji=False, no_color="NO_COLOR" in os.environ or None
        )
        if truncated:
            console.print(
                f"note: only the first {MAX_INPUT_BYTES // (1024 * 1024)} MiB of the input were read"
            )
        render_console(explanation, console)
    raise typer.Exit(int(code))


def register(app: typer.Typer) -> None:
    """Add explain to the app."""
    app.command("explain", epilog=examples("explain"))(explain_command)
