"""``gpucheck setup docker``: register the NVIDIA runtime in daemon.json, showing a diff unless ``--apply``.

The decision to write is taken here and nowhere else (conda doctor's fixer pattern): ``gpucheck.fix`` plans
the change purely and exposes one apply function.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples
from gpucheck.fix.docker_runtime import (
    DEFAULT_CONFIG,
    DEFAULT_RUNTIME_PATH,
    DaemonJsonError,
    RefusedError,
    RuntimePlan,
    apply_plan,
    edit_lock,
    plan_runtime_config,
    read_config,
    unified_diff,
)

DEFAULT_CONFIG_PATH = Path(DEFAULT_CONFIG)

setup_app = typer.Typer(
    name="setup",
    help="Configure this machine for GPU work (prints the change; writes only with --apply).",
    no_args_is_help=True,
)


def _fail(message: str, code: ExitCode) -> typer.Exit:
    typer.echo(f"gpucheck: {message}", err=True)
    return typer.Exit(int(code))


def _restart_hint(path: Path) -> str:
    rootless = ".config/docker" in str(path) or str(path).startswith(str(Path.home()) + "/")
    if rootless:
        return "Restart the daemon so it takes effect: systemctl --user restart docker (rootless Docker)"
    return (
        "Restart the daemon so it takes effect: sudo systemctl restart docker "
        "(rootless Docker: systemctl --user restart docker)"
    )


def _plan(
    path: Path, runtime_name: str, runtime_path: str | None, set_default: bool, cdi: bool
) -> RuntimePlan:
    try:
        original = read_config(str(path))
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise _fail(f"cannot read {path}: {why}; nothing was changed", ExitCode.USAGE) from None
    try:
        return plan_runtime_config(
            str(path),
            original,
            runtime_name=runtime_name,
            runtime_path=runtime_path,
            set_default=set_default,
            enable_cdi=cdi,
        )
    except DaemonJsonError as exc:
        raise _fail(
            f"refusing to touch {path}: it is not a JSON object dockerd can read: {exc}. Fix it by hand "
            f"(check with `sudo dockerd --validate --config-file {path}`); nothing was changed",
            ExitCode.USAGE,
        ) from None
    except RefusedError as exc:
        raise _fail(f"refusing to touch {path}: {exc}; nothing was changed", ExitCode.USAGE) from None


@setup_app.command("docker", epilog=examples("setup docker"))
def docker_command(
    config: Path = typer.Option(  # noqa: B008 - typer declares options as defaults
        DEFAULT_CONFIG_PATH,
        "--config",
        help="The daemon.json to edit (rootless Docker: ~/.config/docker/daemon.json).",
    ),
    apply: bool = typer.Option(False, "--apply", help="Write the change; without it only a diff is printed."),
    set_default: bool = typer.Option(False, "--set-default", help='Also set "default-runtime" to it.'),
    cdi: bool = typer.Option(False, "--cdi", help='Also set "features": {"cdi": true} (Docker 25 or newer).'),
    runtime_path: str | None = typer.Option(
        None,
        "--runtime-path",
        show_default=DEFAULT_RUNTIME_PATH,
        help="The runtime executable (a bare name is looked up on dockerd's PATH). Given explicitly, it "
        "replaces a path already set; otherwise an existing path is kept.",
    ),
    runtime_name: str = typer.Option("nvidia", "--runtime-name", help="The runtime's name in daemon.json."),
) -> None:
    """Add the NVIDIA runtime to Docker's daemon.json, as `nvidia-ctk runtime configure` does, safely."""
    path = config.expanduser()
    if not apply:
        _show(_plan(path, runtime_name, runtime_path, set_default, cdi), path, apply=False)
        return
    try:
        with edit_lock(str(path)):
            # NOTE: read, plan and write under one lock: a concurrent run waits and then sees this edit
            plan = _plan(path, runtime_name, runtime_path, set_default, cdi)
            _show(plan, path, apply=True)
            result = apply_plan(plan, lock_held=True)
    except RefusedError as exc:
        raise _fail(f"refusing to write {path}: {exc}", ExitCode.FAILED) from None
    except PermissionError as exc:
        raise _fail(
            f"cannot write {path}: {exc}; re-run with sudo. Nothing was changed", ExitCode.FAILED
        ) from None
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc}; the original is unchanged", ExitCode.FAILED) from None
    typer.echo(f"wrote {result.path}" + (f" (backup: {result.backup})" if result.backup else " (new file)"))
    typer.echo(_restart_hint(path))


def _show(plan: RuntimePlan, path: Path, *, apply: bool) -> None:
    """Print the diff and the changes; exit 0 when there is nothing to write or this is a dry run."""
    if not plan.needed:
        typer.echo(f"nothing to do: {path} already has everything asked for")
        raise typer.Exit(int(ExitCode.OK))
    typer.echo(unified_diff(plan), nl=False)
    for change in plan.changes:
        typer.echo(f"# {change}")
    if not apply:
        typer.echo(f"dry run: {path} was not changed; re-run with --apply to write it")
        raise typer.Exit(int(ExitCode.OK))


def register(app: typer.Typer) -> None:
    """Add ``gpucheck setup`` and its commands to the app."""
    app.add_typer(setup_app, name="setup")
