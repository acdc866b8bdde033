"""``gpucheck bench-smoke``: train PPO on CartPole-v1 under each placement; say where the GPU starts to win.

Exit codes (gpucheck/cli/exit_codes.py):

- 0: at every ``--hidden`` width at least one placement solved the task, nothing broke while running and the
  GPU numerics check (when a device placement ran) agreed. Placements skipped by default (no GPU) do not fail.
- 1: no placement solved the task within ``--steps`` at some width, a placement broke half-way, the numerics
  check failed, or a placement named in ``--placements`` could not run while others did.
- 2: bad options (``--hidden``, ``--envs``, ``--placements``, ``--device``, ``--framework``, ``--steps`` below
  one rollout), none of the requested placements can run on this host (e.g. ``--placements gpu`` without a
  GPU; the message says why), or torch/gymnasium missing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples
from gpucheck.report.theme import THEME

if TYPE_CHECKING:  # NOTE: the bench modules import torch (~2.5 s); only bench-smoke itself pays for that.
    from gpucheck.bench.runner import BenchOptions, BenchReport
    from gpucheck.bench.runner import Progress as BenchProgress

PLACEMENTS = ("cpu", "gpu", "split", "gpu-env")
ACTIVATIONS = ("tanh", "relu", "elu", "gelu")
LINE_EVERY_S = 10.0
"""Without a terminal, a progress line at most this often within a run (and one per finished run)."""


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"gpucheck: error: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


def parse_counts(text: str, option: str) -> tuple[int, ...]:
    """``"64,128"`` → ``(64, 128)`` (duplicates dropped, order kept); ValueError on anything else."""
    parts = [v.strip() for v in text.split(",") if v.strip()]
    if not parts or not all(v.isdigit() and int(v) > 0 for v in parts):
        raise ValueError(f"{option} wants positive integers separated by commas, got {text!r}")
    return tuple(dict.fromkeys(int(v) for v in parts))


def parse_hidden(text: str) -> tuple[int, ...]:
    """``--hidden``: widths to sweep."""
    return parse_counts(text, "--hidden")


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
    hidden: str = typer.Option("64", "--hidden", help="Hidden-layer width(s) to sweep, e.g. 64,256."),
    envs: str = typer.Option(
        "8", "--envs", help="Parallel environment count(s) to sweep, e.g. 8,64,512,4096."
    ),
    placements: str | None = typer.Option(
        None,
        "--placements",
        help="Which of cpu, gpu, split, gpu-env to run (default: all this machine can; named ones must run).",
    ),
    repeats: int = typer.Option(
        3, "--repeats", min=1, help="Timed throughput repeats per placement and cell."
    ),
    window: int = typer.Option(
        8_192,
        "--window",
        min=1,
        help="Timed env steps per throughput repeat (rounded up to whole rollouts).",
    ),
    steps: int = typer.Option(100_000, "--steps", min=1, help="Env-step budget of each solve run."),
    seed: int = typer.Option(1, "--seed", help="Seed for torch and the environments."),
    depth: int = typer.Option(2, "--depth", min=1, help="Hidden layers per tower."),
    activation: str = typer.Option(
        "tanh", "--activation", help="Hidden activation: tanh, relu, elu or gelu."
    ),
    device: str = typer.Option("cuda", "--device", help="The GPU for the device placements: cuda or cuda:N."),
    framework: str = typer.Option("torch", "--framework", help="Training framework; only torch so far."),
    latency: bool = typer.Option(
        True,
        "--latency/--no-latency",
        help="Probe launch, sync and copy latency on the device (when one runs).",
    ),
    early_stop: bool = typer.Option(
        True,
        "--early-stop/--no-early-stop",
        help="Stop a solve run once it solves the task (default) or use all --steps.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON (schema: gpucheck/schemas/bench.schema.json)."
    ),
    plot: Path | None = typer.Option(  # noqa: B008 - typer declares options as defaults
        None, "--plot", help="Write steps/s vs env count and width, and the time split, to this PNG."
    ),
) -> None:
    """Train PPO on CartPole-v1 under each placement and say which to use, and why."""
    try:
        widths, env_counts, device = parse_hidden(hidden), parse_counts(envs, "--envs"), parse_device(device)
        names = PLACEMENTS if placements is None else parse_placements(placements)
        if activation not in ACTIVATIONS:
            raise ValueError(f"--activation wants one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    try:
        from gpucheck.bench.ppo import PPOConfig, validate
        from gpucheck.bench.runner import BenchOptions, NothingToRun, UnsupportedFramework
        from gpucheck.bench.summary import failures, render, to_json
    except ImportError as exc:
        raise _usage_error(
            f"bench-smoke needs torch and gymnasium ({exc}): pip install 'gpucheck[bench]'"
        ) from None

    config = PPOConfig(
        seed=seed,
        total_timesteps=steps,
        num_envs=env_counts[0],
        hidden=widths[0],
        depth=depth,
        activation=activation,
        early_stop=early_stop,
    )
    options = BenchOptions(
        placements=names,
        explicit=placements is not None,
        hidden=widths,
        envs=env_counts,
        repeats=repeats,
        window=window,
        device=device,
        framework=framework,
        latency=latency,
        config=config,
    )
    try:
        validate(config)
        report = _run_with_progress(options, show=not json_out)
    except (UnsupportedFramework, NothingToRun, ValueError) as exc:
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


def _label(event: BenchProgress) -> str:
    if event.stage in ("numerics", "latency"):
        return {"numerics": "numerics check", "latency": "latency probes"}[event.stage]
    what = f"{event.stage} {event.placement} h{event.hidden} e{event.num_envs}"
    return f"{what} repeat {event.repeat + 1}" if event.stage == "throughput" else what


class LineProgress:
    """Progress without a terminal: a line per finished run, and one every ``LINE_EVERY_S`` inside one."""

    def __init__(self, stream: object) -> None:
        """Write to ``stream`` (a text file)."""
        self.stream = stream
        self.last = time.monotonic()

    def __call__(self, event: BenchProgress) -> None:
        """Print the event if it finished a run or the last line is old enough."""
        now = time.monotonic()
        if event.finished is not None:
            figure = f"{event.finished.steps_per_s:,.0f} env steps/s"
            if event.finished.solved_at is not None:
                figure += f", solved at {event.finished.solved_at.env_steps:,} steps"
            line = f"[{event.run_index}/{event.run_total}] {_label(event)}: {figure}"
        elif event.stage in ("numerics", "latency"):
            line = f"{_label(event)} …"
        elif now - self.last >= LINE_EVERY_S:
            count = f"[{event.run_index + 1}/{event.run_total}]"
            line = f"{count} {_label(event)}: {event.done:,}/{event.total:,} steps"
        else:
            return
        self.last = now
        print(f"bench-smoke: {line}", file=self.stream, flush=True)


def _run_with_progress(options: BenchOptions, *, show: bool) -> BenchReport:
    """Run with a progress bar on a terminal's stderr, periodic lines otherwise, nothing with --json."""
    from gpucheck.bench.runner import run_bench

    if not show:
        return run_bench(options)
    console = Console(file=sys.stderr, theme=THEME)
    if not console.is_terminal:
        return run_bench(options, LineProgress(sys.stderr))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} steps"),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        overall: list[TaskID] = []

        def on_progress(event: BenchProgress) -> None:
            if not overall:
                overall.append(progress.add_task("bench-smoke runs", total=event.run_total or 1, note=""))
            progress.update(overall[0], completed=event.run_index, note=_label(event))
            if event.total:
                if len(overall) == 1:
                    overall.append(progress.add_task("", total=event.total, note=""))
                note = f"eval {event.latest.mean_return:.0f}" if event.latest is not None else ""
                fields = {"note": note} if note else {}
                progress.update(
                    overall[1], description=_label(event), completed=event.done, total=event.total, **fields
                )

        return run_bench(options, on_progress)


def register(app: typer.Typer) -> None:
    """Add ``bench-smoke`` to the app."""
    app.command(
        "bench-smoke",
        help="Train PPO on CartPole-v1 on cpu / gpu / split / gpu-env and say where the GPU starts to win.",
        epilog=examples("bench-smoke"),
    )(bench_smoke_command)
