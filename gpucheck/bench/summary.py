"""bench-smoke's verdict: the recommendation, the crossover table, the JSON document and the console tables.

The recommendation ranks placements by environment steps per second of training (evaluation excluded) among
those that solved the task. Wall time to solve is shown too but not ranked on: placements on different devices
round differently, their runs diverge after a few updates and solve after different numbers of steps, so
time-to-solve mixes placement speed with luck; steps/s is the placement's own cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpucheck.bench.ppo import SOLVED_RETURN
from gpucheck.bench.runner import BenchReport, PlacementResult
from gpucheck.bench.timing import PHASES

SCHEMA_VERSION = 1
"""Version of the ``--json`` document (gpucheck/schemas/bench.schema.json)."""

TIME_SPLIT = (*PHASES, "other")
NUMERICS_LABEL = {"pass": "passed", "fail": "FAILED", "skip": "skipped", "error": "errored"}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Which placement to use at one width."""

    hidden: int
    placement: str | None
    """The fastest placement that solved the task, or None when none did."""
    steps_per_s: float | None = None
    runner_up: str | None = None
    """The next fastest placement that ran, if any."""
    speedup: float | None = None
    """``placement``'s env steps/s divided by ``runner_up``'s."""
    text: str = ""


def widths(report: BenchReport) -> list[int]:
    """The hidden widths in the order they ran."""
    return list(dict.fromkeys(r.hidden for r in report.results))


def recommend(report: BenchReport, hidden: int) -> Recommendation:
    """The fastest placement that solved the task at ``hidden``, and by how much it beats the next one."""
    ran = sorted(
        (r for r in report.results if r.hidden == hidden and r.train is not None),
        key=lambda r: r.train.steps_per_s,
        reverse=True,
    )
    solved = [r for r in ran if r.solved]
    if not solved:
        steps = report.options.config.total_timesteps
        return Recommendation(
            hidden,
            None,
            text=(
                f"no placement solved CartPole-v1 (evaluation mean ≥ {SOLVED_RETURN:g}) within {steps:,} "
                "steps at "
                f"hidden {hidden}: rerun with more --steps (e.g. {2 * steps:,}) or another --seed"
            ),
        )
    best = solved[0]
    others = [r for r in ran if r is not best]
    sps = best.train.steps_per_s
    if not others:
        return Recommendation(
            hidden,
            best.placement,
            sps,
            text=(
                f"use {best.placement} at hidden {hidden}: the only placement that ran "
                f"({sps:,.0f} env steps/s, solved in {best.train.solved_at.wall_s:.1f} s)"
            ),
        )
    runner_up = others[0]
    speedup = sps / runner_up.train.steps_per_s
    return Recommendation(
        hidden,
        best.placement,
        sps,
        runner_up.placement,
        speedup,
        text=(
            f"use {best.placement} at hidden {hidden}: {speedup:.2f}x the env steps/s of "
            f"{runner_up.placement} ({sps:,.0f} vs {runner_up.train.steps_per_s:,.0f}), "
            f"solved in {best.train.solved_at.wall_s:.1f} s"
        ),
    )


def failures(report: BenchReport) -> list[str]:
    """Why the run counts as failed (exit code 1); empty when it passed."""
    problems = [
        f"{r.placement} at hidden {r.hidden} broke: {r.reason}" for r in report.results if r.status == "error"
    ]
    problems += [recommend(report, h).text for h in widths(report) if recommend(report, h).placement is None]
    if report.numerics.status in ("fail", "error"):
        problems.append(f"GPU numerics check {report.numerics.status}: {numerics_text(report)}")
    return problems


def numerics_text(report: BenchReport) -> str:
    """One line on the CPU-vs-GPU first-update comparison."""
    n = report.numerics
    if n.status == "skip":
        return n.reason or ""
    if n.status == "error":
        return f"could not run on {n.device}: {n.reason}"
    return (
        f"first-update loss {n.loss_cpu:.7g} (cpu) vs {n.loss_device:.7g} ({n.device}), |diff| "
        f"{n.loss_abs_diff:.2g}; max |grad diff| {n.grad_max_abs_diff:.2g} of scale {n.grad_scale:.2g}; "
        f"tolerance {n.atol:g} + {n.rtol:g}·|value|, TF32 off → "
        f"{'within' if n.status == 'pass' else 'OUTSIDE'}"
    )


def gpu_note(report: BenchReport) -> str | None:
    """What a GPU machine would add, when every device placement was skipped."""
    device_results = [r for r in report.results if r.placement != "cpu"]
    if not device_results or any(r.status != "skipped" for r in device_results):
        return None
    return (
        "on a machine with a CUDA GPU, bench-smoke also times the naive all-GPU port (gpu) and CPU "
        "rollouts with GPU updates (split), compares the first update's loss and gradient with the "
        "CPU's, and reports peak GPU memory, so you learn whether the GPU pays off at your network width."
    )


# ---------------------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------------------


def result_to_dict(r: PlacementResult) -> dict:
    """One placement's figures (keys documented in bench.schema.json)."""
    doc: dict = {
        "placement": r.placement,
        "hidden": r.hidden,
        "status": r.status,
        "reason": r.reason,
        "rollout_device": r.rollout_device,
        "update_device": r.update_device,
    }
    t = r.train
    if t is None:
        return doc
    doc.update(
        {
            "wall_s": t.wall_s,
            "env_steps": t.env_steps,
            "steps_per_s": t.steps_per_s,
            "time_split_s": {phase: t.phases.get(phase, 0.0) for phase in TIME_SPLIT},
            "eval_mean_return": t.eval_mean,
            "eval_returns": list(t.eval_returns),
            "solved": t.solved,
            "solved_at": None
            if t.solved_at is None
            else {"env_steps": t.solved_at.env_steps, "wall_s": t.solved_at.wall_s},
            "curve": [
                {"env_steps": p.env_steps, "wall_s": p.wall_s, "mean_return": p.mean_return} for p in t.curve
            ],
            "first_update_loss": t.first_update_loss,
            "peak_host_rss_mib": t.peak_host_mib,
            "peak_device_mib": t.peak_device_mib,
        }
    )
    return doc


def to_json(report: BenchReport, exit_code: int) -> dict:
    """The ``--json`` document."""
    config = report.options.config
    recs = [recommend(report, h) for h in widths(report)]
    return {
        "format": "gpucheck-bench-smoke",
        "schema_version": SCHEMA_VERSION,
        "status": "failed" if failures(report) else "ok",
        "exit_code": exit_code,
        "problems": failures(report),
        "environment": report.environment,
        "config": {
            "env_id": config.env_id,
            "seed": config.seed,
            "total_timesteps": config.total_timesteps,
            "num_envs": config.num_envs,
            "num_steps": config.num_steps,
            "hidden": list(report.options.hidden),
            "placements": list(report.options.placements),
            "device": report.options.device,
            "framework": report.options.framework,
            "early_stop": config.early_stop,
            "eval_every": config.eval_every,
            "eval_episodes": config.eval_episodes,
            "torch_threads": config.torch_threads,
            "solved_return": SOLVED_RETURN,
        },
        "results": [result_to_dict(r) for r in report.results],
        "numerics": {
            "status": report.numerics.status,
            "device": report.numerics.device,
            "loss_cpu": report.numerics.loss_cpu,
            "loss_device": report.numerics.loss_device,
            "loss_abs_diff": report.numerics.loss_abs_diff,
            "grad_max_abs_diff": report.numerics.grad_max_abs_diff,
            "grad_scale": report.numerics.grad_scale,
            "rtol": report.numerics.rtol,
            "atol": report.numerics.atol,
            "reason": report.numerics.reason,
        },
        "recommendations": [
            {
                "hidden": r.hidden,
                "placement": r.placement,
                "steps_per_s": r.steps_per_s,
                "runner_up": r.runner_up,
                "speedup": r.speedup,
                "text": r.text,
            }
            for r in recs
        ],
        "gpu_note": gpu_note(report),
        "wall_s": report.wall_s,
    }


# ---------------------------------------------------------------------------------------------------------
# Console
# ---------------------------------------------------------------------------------------------------------


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def results_table(report: BenchReport) -> Table:
    """Per placement: speed, outcome and memory."""
    table = Table(title="bench-smoke: PPO on CartPole-v1", title_justify="left")
    for name in (
        "placement",
        "hidden",
        "wall s",
        "env steps",
        "steps/s",
        "return",
        "solved at",
        "host MiB",
        "dev MiB",
    ):
        table.add_column(name, justify="left" if name in ("placement", "solved at") else "right")
    for r in report.results:
        t = r.train
        if t is None:
            style = "status.skip" if r.status == "skipped" else "status.error"
            table.add_row(r.placement, str(r.hidden), f"[{style}]{r.status}[/]", "", "", "", "", "", "")
            continue
        solved = (
            f"[status.pass]{t.solved_at.env_steps:,}, {t.solved_at.wall_s:.1f} s[/]"
            if t.solved_at
            else "[status.fail]not solved[/]"
        )
        table.add_row(
            r.placement,
            str(r.hidden),
            f"{t.wall_s:.1f}",
            f"{t.env_steps:,}",
            f"{t.steps_per_s:,.0f}",
            f"{t.eval_mean:.1f}",
            solved,
            _mib(t.peak_host_mib),
            _mib(t.peak_device_mib),
        )
    return table


def time_split_table(report: BenchReport) -> Table:
    """Per placement: where the training seconds went."""
    table = Table(title="where the time went: seconds (% of wall)", title_justify="left")
    table.add_column("placement")
    table.add_column("hidden", justify="right")
    for phase in TIME_SPLIT:
        table.add_column(phase, justify="right")
    for r in report.results:
        if r.train is None:
            continue
        wall = r.train.wall_s or 1.0
        cells = [
            f"{r.train.phases.get(p, 0.0):.2f} {100 * r.train.phases.get(p, 0.0) / wall:.0f}%"
            for p in TIME_SPLIT
        ]
        table.add_row(r.placement, str(r.hidden), *cells)
    return table


def crossover_table(report: BenchReport) -> Table:
    """Env steps/s of each placement at each width, and the winner (for ``--hidden`` sweeps)."""
    placements = [p for p in report.options.placements if any(r.placement == p for r in report.results)]
    table = Table(title="crossover: env steps/s by width", title_justify="left")
    table.add_column("hidden", justify="right")
    for name in placements:
        table.add_column(name, justify="right")
    table.add_column("fastest that solved")
    for hidden in widths(report):
        by_name = {r.placement: r for r in report.results if r.hidden == hidden}
        cells = [
            f"{by_name[n].train.steps_per_s:,.0f}"
            if by_name[n].train
            else by_name[n].status
            if n in by_name
            else "-"
            for n in placements
        ]
        table.add_row(str(hidden), *cells, recommend(report, hidden).placement or "none")
    return table


def render(report: BenchReport, console: Console) -> None:
    """Print the summary tables, the numerics line, skipped reasons and the recommendation."""
    console.print(results_table(report))
    console.print(time_split_table(report))
    if len(widths(report)) > 1:
        console.print(crossover_table(report))
    skip_reasons: dict[str, list[str]] = {}
    for r in report.results:
        if r.status == "skipped":
            names = skip_reasons.setdefault(r.reason or "", [])
            names.extend([r.placement] if r.placement not in names else [])
        elif r.status == "error":
            console.print(
                f"[status.error]{r.placement} (hidden {r.hidden}) broke[/]: {escape(r.reason or '')}"
            )
    for reason, names in skip_reasons.items():
        console.print(f"[status.skip]{', '.join(names)} skipped[/]: {escape(reason)}")
    if report.numerics.status == "skip" and report.numerics.reason in skip_reasons:
        console.print("[status.skip]numerics check skipped[/]: no GPU placement ran")
    else:
        style = {"pass": "status.pass", "skip": "status.skip"}.get(report.numerics.status, "status.fail")
        label = NUMERICS_LABEL[report.numerics.status]
        console.print(f"[{style}]numerics check {label}[/]: {escape(numerics_text(report))}")
    note = gpu_note(report)
    if note:
        console.print(f"note: {escape(note)}")
    for hidden in widths(report):
        rec = recommend(report, hidden)
        console.print(
            f"[{'summary.line' if rec.placement else 'status.fail'}]recommendation: {escape(rec.text)}[/]"
        )
