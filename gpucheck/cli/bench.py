"""``gpucheck bench-smoke``: train PPO on CartPole-v1 on the CPU, the GPU and split, and say which to use.

Exit codes (gpucheck/cli/exit_codes.py):

- 0: at every ``--hidden`` width at least one placement solved the task, no placement broke while running
  and the GPU numerics check (when a GPU placement ran) agreed. Skipped placements (no GPU) do not fail.
- 1: no placement solved the task within ``--steps`` at some width, a placement broke half-way, or the first
  update's loss/gradient on the GPU differs from the CPU's beyond the tolerance.
- 2: bad options (``--hidden``, ``--placements``, ``--device``, ``--framework``) or torch/gymnasium missing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples
from gpucheck.report.theme import THEME

if TYPE_CHECKING:  # NOTE: the bench modules import torch (~2.5 s); only bench-smoke itself pays for that.
    from gpucheck.bench.ppo import EvalPoint
    from gpucheck.bench.runner import BenchOptions, BenchReport

PLACEMENTS = ("cpu", "gpu", "split")


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"gpucheck: error: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"64,128"`` → ``(64, 128)``; raises ValueError on anything but positive integers."""
    parts = [v.strip() for v in text.split(",") if v.strip()]
    if not parts or not all(v.isdigit() and int(v) > 0 for v in parts):
        raise ValueError(f"--hidden wants positive integers separated by commas, got {text!r}")
    return tuple(int(v) for v in parts)


def parse_placements(text: str) -> tuple[str, ...]:
    """``"cpu,split"`` → ``("cpu", "split")`` in the canonical order; raises ValueError on unknown names."""
    names = {v.strip() for v in text.split(",") if v.strip()}
    unknown = names - set(PLACEMENTS)
    if unknown or not names:
        raise ValueError(
            f"--placements wants a comma-separated subset of {','.join(PLACEMENTS)}, got {text!r}"
        )
    return tuple(p for p in PLACEMENTS if p in names)


def parse_device(text: str) -> str:
    """``cuda`` or ``cuda:N``; raises ValueError otherwise."""
    index = text.removeprefix("cuda:")
    if text != "cuda" and not (text.startswith("cuda:") and index.isdigit()):
        raise ValueError(f"--device wants cuda or cuda:N, got {text!r}")
    return text


def bench_smoke_command(
    hidden: str = typer.Option("64", "--hidden", help="Hidden-layer width(s) to sweep, e.g. 64,128,256."),
    placements: str = typer.Option("cpu,gpu,split", "--placements", help="Which of cpu, gpu, split to run."),
    seed: int = typer.Option(1, "--seed", help="Seed for torch and the environments."),
    steps: int = typer.Option(100_000, "--steps", min=1, help="Environment-step budget per placement."),
    envs: int = typer.Option(8, "--envs", min=1, help="Parallel CartPole environments."),
    device: str = typer.Option(
        "cuda", "--device", help="The GPU for the gpu and split placements: cuda or cuda:N."
    ),
    framework: str = typer.Option("torch", "--framework", help="Training framework; only torch so far."),
    early_stop: bool = typer.Option(
        True,
        "--early-stop/--no-early-stop",
        help="Stop a placement once it solves the task (default) or use all --steps.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON (schema: gpucheck/schemas/bench.schema.json)."
    ),
    plot: Path | None = typer.Option(  # noqa: B008 - typer declares options as defaults
        None, "--plot", help="Write return-over-time and time-split plots to this PNG."
    ),
) -> None:
    """Train PPO on CartPole-v1 on the CPU, the GPU and split, and say which placement to use."""
    try:
        widths, names, device = parse_hidden(hidden), parse_placements(placements), parse_device(device)
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    try:
        from gpucheck.bench.ppo import PPOConfig, validate
        from gpucheck.bench.runner import BenchOptions, UnsupportedFramework
        from gpucheck.bench.summary import failures, render, to_json
    except ImportError as exc:
        raise _usage_error(
            f"bench-smoke needs torch and gymnasium ({exc}): pip install 'gpucheck[bench]'"
        ) from None

    config = PPOConfig(seed=seed, total_timesteps=steps, num_envs=envs, early_stop=early_stop)
    options = BenchOptions(
        placements=names,
        hidden=widths,
        device=device,
        framework=framework,
        config=replace(config, hidden=widths[0]),
    )
    try:
        validate(config)
        report = _run_with_progress(options, show=not json_out)
    except (UnsupportedFramework, ValueError) as exc:
        raise _usage_error(str(exc)) from None
    code = ExitCode.FAILED if failures(report) else ExitCode.OK
    if plot is not None:
        from gpucheck.bench.plot import write_plot

        write_plot(report, plot)
    if json_out:
        typer.echo(json.dumps(to_json(report, int(code)), indent=2))
    else:
        render(report, Console(theme=THEME, highlight=False))
        if plot is not None:
            typer.echo(f"plot written to {plot}")
    raise typer.Exit(int(code))


def _run_with_progress(options: BenchOptions, *, show: bool) -> BenchReport:
    """Run the bench with a rich progress bar on stderr (none with ``--json``)."""
    from gpucheck.bench.runner import run_bench

    if not show:
        return run_bench(options)
    console = Console(file=sys.stderr, theme=THEME)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} steps"),
        TextColumn("{task.fields[eval]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[tuple[str, int], int] = {}

        def on_progress(name: str, width: int, done: int, total: int, latest: EvalPoint | None) -> None:
            key = (name, width)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{name} h{width}", total=total, eval="")
            fields = {"eval": f"eval {latest.mean_return:.0f}"} if latest is not None else {}
            progress.update(tasks[key], completed=done, **fields)

        return run_bench(options, on_progress)


def register(app: typer.Typer) -> None:
    """Add ``bench-smoke`` to the app."""
    app.command(
        "bench-smoke",
        help="Train PPO on CartPole-v1 on CPU / GPU / split and recommend a placement.",
        epilog=examples("bench-smoke"),
    )(bench_smoke_command)
