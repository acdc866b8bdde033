"""bench-smoke's verdict: who wins each cell (or a tie), what decided it, the JSON and the console tables.

Placements are compared on throughput alone: env steps per second over equal timed windows, median of the
repeats. Two placements tie when their ranges (slowest to fastest repeat) overlap: the difference is inside
what repeating the same run produces. Solving is judged separately (pass/fail per placement), because runs
on different devices round differently, diverge after a few updates and solve after different numbers of
steps: time to solve mixes a placement's speed with luck.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpucheck.bench.latency import LatencyProbes
from gpucheck.bench.ppo import SOLVED_RETURN, TrainResult
from gpucheck.bench.runner import BenchReport, Cell, SolveRun, ThroughputRuns
from gpucheck.bench.timing import PHASES

SCHEMA_VERSION = 2
"""Version of the ``--json`` document (gpucheck/schemas/bench.schema.json)."""

TIME_SPLIT = (*(p for p in PHASES if p != "eval"), "other")
"""The phases of a throughput window (no evaluation runs there)."""
NUMERICS_LABEL = {"pass": "passed", "fail": "FAILED", "skip": "skipped", "error": "errored"}
PHASE_WORDS = {
    "env": "environment stepping",
    "inference": "policy inference during rollouts",
    "transfer": "host↔device transfers",
    "update": "the update (GAE, autograd backward, Adam)",
    "other": "Python bookkeeping between phases",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """Who wins one cell."""

    hidden: int
    num_envs: int
    winner: str | None
    """The placement with the highest median steps/s, or None when nothing ran."""
    runner_up: str | None = None
    speedup: float | None = None
    """Winner's median over the runner-up's."""
    tie: bool = False
    """The runner-up's range overlaps the winner's: the difference is within the repeats' spread."""
    text: str = ""


def ranked(cell: Cell) -> list[ThroughputRuns]:
    """The placements that produced figures, fastest median first."""
    return sorted((r for r in cell.placements if r.runs), key=lambda r: r.median, reverse=True)


def overlaps(a: ThroughputRuns, b: ThroughputRuns) -> bool:
    """Whether two placements' ranges of repeats overlap."""
    return a.low <= b.high and b.low <= a.high


def verdict(cell: Cell) -> Verdict:
    """The winner of ``cell``, by how much, or a tie."""
    where = f"hidden {cell.hidden}, {cell.num_envs} envs"
    order = ranked(cell)
    if not order:
        return Verdict(cell.hidden, cell.num_envs, None, text=f"{where}: no placement produced a figure")
    best = order[0]
    if len(order) == 1:
        return Verdict(
            cell.hidden,
            cell.num_envs,
            best.placement,
            text=f"{where}: {best.placement} is the only placement that ran ({best.median:,.0f} env steps/s)",
        )
    second = order[1]
    speedup = best.median / second.median
    tie = overlaps(best, second)
    if tie:
        text = (
            f"{where}: {best.placement} and {second.placement} tie ({best.median:,.0f} vs "
            f"{second.median:,.0f} env steps/s, ranges overlap)"
        )
    else:
        text = (
            f"{where}: {best.placement} wins, {speedup:.2f}x {second.placement} "
            f"({best.median:,.0f} vs {second.median:,.0f} env steps/s)"
        )
    return Verdict(cell.hidden, cell.num_envs, best.placement, second.placement, speedup, tie, text)


def gpu_crossover(report: BenchReport) -> list[str]:
    """Per width, the smallest env count at which a device placement beats the CPU outside the spread."""
    lines = []
    for hidden in report.options.hidden:
        cells = [c for c in report.cells if c.hidden == hidden]
        cpu_ran = any(r.placement == "cpu" and r.runs for c in cells for r in c.placements)
        device_ran = any(r.placement != "cpu" and r.runs for c in cells for r in c.placements)
        if not (cpu_ran and device_ran):
            continue
        wins = []
        for cell in cells:
            cpu = next((r for r in cell.placements if r.placement == "cpu" and r.runs), None)
            best = ranked(cell)[0] if ranked(cell) else None
            if cpu and best and best.placement != "cpu" and not overlaps(best, cpu):
                wins.append((cell, best, best.median / cpu.median))
        if wins:
            cell, best, ratio = wins[0]
            lines.append(
                f"hidden {hidden}: the GPU wins from {cell.num_envs} envs ({best.placement} {ratio:.2f}x cpu)"
            )
        else:
            counts = ", ".join(str(c.num_envs) for c in cells)
            lines.append(f"hidden {hidden}: the CPU wins or ties at every env count tried ({counts})")
    return lines


def deciding_cost(runs: ThroughputRuns, latency: LatencyProbes) -> str | None:
    """One sentence: which phase took the largest share of the typical repeat, with the probe behind it."""
    typical = runs.typical
    if typical is None:
        return None
    fractions = typical.fractions()
    phase = max(TIME_SPLIT, key=lambda p: fractions.get(p, 0.0))
    share = fractions.get(phase, 0.0)
    where = f"{runs.placement} (hidden {runs.hidden}, {runs.num_envs} envs)"
    sentence = f"{where}: {PHASE_WORDS[phase]}: {100 * share:.0f} % of its wall time"
    # The phase ran on the device: rollouts (env, inference) on the rollout device, the update on the other
    ran_on = runs.update_device if phase == "update" else runs.rollout_device
    on_device = ran_on not in (None, "cpu") or phase == "transfer"
    if latency.status == "ok" and on_device:
        probe = latency.copy_for(runs.num_envs)
        if phase == "transfer" and probe is not None and probe.h2d_pageable_us is not None:
            sentence += (
                f" (one step's observations: {probe.h2d_pageable_us:.0f} µs host→device, "
                f"{probe.d2h_pageable_us:.0f} µs back, pageable; every step also waits for the device)"
            )
        elif phase in ("inference", "update", "env") and latency.launch_us is not None:
            sentence += f" (launch-bound: {latency.launch_us:.1f} µs per kernel launch"
            sentence += f", {latency.sync_us:.0f} µs per sync)" if latency.sync_us is not None else ")"
    return sentence


def solve_problems(report: BenchReport) -> list[str]:
    """Widths at which no placement solved the task."""
    problems = []
    for hidden in report.options.hidden:
        runs = [s for s in report.solves if s.hidden == hidden and s.train is not None]
        if runs and not any(s.solved for s in runs):
            steps = report.options.config.total_timesteps
            problems.append(
                f"no placement solved CartPole-v1 (evaluation mean ≥ {SOLVED_RETURN:g}) within {steps:,} "
                f"steps at hidden {hidden}: rerun with more --steps (e.g. {2 * steps:,}) or another --seed"
            )
    return problems


def failures(report: BenchReport) -> list[str]:
    """Why the run counts as failed (exit code 1); empty when it passed."""
    problems = [
        f"{r.placement} (hidden {r.hidden}, {r.num_envs} envs) broke during the throughput pass: {r.reason}"
        for cell in report.cells
        for r in cell.placements
        if r.status == "error"
    ]
    problems += [
        f"{s.placement} (hidden {s.hidden}) broke during the solve pass: {s.reason}"
        for s in report.solves
        if s.status == "error"
    ]
    problems += solve_problems(report)
    if report.numerics.status in ("fail", "error"):
        problems.append(f"GPU numerics check {report.numerics.status}: {numerics_text(report)}")
    if report.options.explicit:
        problems += [f"{s.name} was requested but could not run: {s.reason}" for s in report.skipped]
    return problems


def numerics_text(report: BenchReport) -> str:
    """One line on the CPU-vs-device training-step comparison."""
    n = report.numerics
    if n.status == "skip":
        return n.reason or ""
    if n.status == "error":
        return f"could not run on {n.device}: {n.reason}"
    return (
        f"first training step on cpu vs {n.device}: loss {n.loss_cpu:.7g} vs {n.loss_device:.7g} "
        f"(|diff| {n.loss_abs_diff:.2g}, tol {n.loss_tol:.2g}); "
        f"gradients max |diff| {n.grad_max_abs_diff:.2g} "
        f"= {n.grad_worst_ratio:.2f} of tolerance; after one Adam step ({n.optimizer_cpu} vs "
        f"{n.optimizer_device}) max |diff| {n.step_max_abs_diff:.2g} = {n.step_worst_ratio:.2f} of bound; "
        f"rtol {n.rtol:.2g} from the matmul precision, {n.precision} → "
        f"{'within' if n.status == 'pass' else 'OUTSIDE'}"
    )


def gpu_note(report: BenchReport) -> str | None:
    """What a GPU machine would add, when every device placement was skipped."""
    if not report.skipped or any(r.uses_device for r in _ran(report)):
        return None
    return (
        "on a machine with a CUDA GPU, bench-smoke also times the naive all-GPU port (gpu), CPU rollouts "
        "with GPU updates (split) and CartPole simulated on the GPU (gpu-env), compares a training step's "
        "loss, gradients and Adam step with the CPU's, and probes launch, sync and copy latency, so you "
        "learn at which width and env count the GPU pays off."
    )


@dataclass(frozen=True, slots=True)
class _Ran:
    placement: str
    uses_device: bool


def _ran(report: BenchReport) -> list[_Ran]:
    return [
        _Ran(r.placement, r.rollout_device not in (None, "cpu") or r.update_device not in (None, "cpu"))
        for cell in report.cells
        for r in cell.placements
        if r.runs
    ]


# ---------------------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------------------


def time_split(t: TrainResult) -> dict[str, float]:
    """Each throughput phase's share of ``t``'s training wall time."""
    fractions = t.fractions()
    return {phase: fractions.get(phase, 0.0) for phase in TIME_SPLIT}


def _throughput_doc(r: ThroughputRuns, latency: LatencyProbes) -> dict:
    typical = r.typical
    return {
        "placement": r.placement,
        "status": r.status,
        "reason": r.reason,
        "rollout_device": r.rollout_device,
        "update_device": r.update_device,
        "steps_per_s": r.steps_per_s,
        "median": r.median,
        "min": r.low,
        "max": r.high,
        "time_split_fraction": None if typical is None else time_split(typical),
        "optimizer": None if typical is None else typical.optimizer.implementation,
        "peak_host_rss_mib": None if typical is None else typical.peak_host_mib,
        "peak_device_mib": None if typical is None else typical.peak_device_mib,
        "deciding_cost": deciding_cost(r, latency),
    }


def _solve_doc(s: SolveRun) -> dict:
    doc: dict = {
        "placement": s.placement,
        "hidden": s.hidden,
        "num_envs": s.num_envs,
        "status": s.status,
        "reason": s.reason,
        "solved": s.solved,
    }
    t = s.train
    if t is None:
        return doc
    doc.update(
        {
            "env_steps": t.env_steps,
            "wall_s": t.wall_s,
            "eval_s": t.phases.get("eval", 0.0),
            "steps_per_s": t.steps_per_s,
            "eval_mean_return": t.eval_mean,
            "solved_at": None
            if t.solved_at is None
            else {
                "env_steps": t.solved_at.env_steps,
                "wall_s": t.solved_at.wall_s,
                "train_s": t.solved_at.train_s,
            },
            "curve": [
                {
                    "env_steps": p.env_steps,
                    "wall_s": p.wall_s,
                    "train_s": p.train_s,
                    "mean_return": p.mean_return,
                }
                for p in t.curve
            ],
            "first_update_loss": t.first_update_loss,
            "optimizer": t.optimizer.implementation,
            "peak_host_rss_mib": t.peak_host_mib,
            "peak_device_mib": t.peak_device_mib,
        }
    )
    return doc


def _latency_doc(probes: LatencyProbes) -> dict:
    return {
        "status": probes.status,
        "device": probes.device,
        "reason": probes.reason,
        "launch_us": probes.launch_us,
        "sync_us": probes.sync_us,
        "copies": [
            {
                "what": c.what,
                "num_envs": c.num_envs,
                "bytes": c.nbytes,
                "h2d_pageable_us": c.h2d_pageable_us,
                "h2d_pinned_us": c.h2d_pinned_us,
                "d2h_pageable_us": c.d2h_pageable_us,
                "d2h_pinned_us": c.d2h_pinned_us,
            }
            for c in probes.copies
        ],
    }


def to_json(report: BenchReport, exit_code: int) -> dict:
    """The ``--json`` document."""
    options, config = report.options, report.options.config
    n = report.numerics
    problems = failures(report)
    return {
        "format": "gpucheck-bench-smoke",
        "schema_version": SCHEMA_VERSION,
        "status": "failed" if problems else "ok",
        "exit_code": exit_code,
        "problems": problems,
        "environment": report.environment,
        "config": {
            "env_id": config.env_id,
            "seed": config.seed,
            "total_timesteps": config.total_timesteps,
            "envs": list(options.envs),
            "num_steps": config.num_steps,
            "hidden": list(options.hidden),
            "depth": config.depth,
            "activation": config.activation,
            "placements": list(options.placements),
            "device": options.device,
            "framework": options.framework,
            "repeats": options.repeats,
            "window": options.window,
            "early_stop": config.early_stop,
            "eval_every": config.eval_every,
            "eval_episodes": config.eval_episodes,
            "torch_threads": config.torch_threads,
            "solved_return": SOLVED_RETURN,
        },
        "throughput": [
            {
                "hidden": cell.hidden,
                "num_envs": cell.num_envs,
                "window_steps": cell.window_steps,
                "placements": [_throughput_doc(r, report.latency) for r in cell.placements],
                "verdict": _verdict_doc(verdict(cell)),
            }
            for cell in report.cells
        ],
        "gpu_crossover": gpu_crossover(report),
        "solve": [_solve_doc(s) for s in report.solves],
        "numerics": {
            "status": n.status,
            "device": n.device,
            "precision": n.precision,
            "rtol": n.rtol,
            "loss_cpu": n.loss_cpu,
            "loss_device": n.loss_device,
            "loss_abs_diff": n.loss_abs_diff,
            "loss_tol": n.loss_tol,
            "grad_max_abs_diff": n.grad_max_abs_diff,
            "grad_worst_ratio": n.grad_worst_ratio,
            "step_max_abs_diff": n.step_max_abs_diff,
            "step_worst_ratio": n.step_worst_ratio,
            "optimizer_cpu": n.optimizer_cpu,
            "optimizer_device": n.optimizer_device,
            "reason": n.reason,
        },
        "latency": _latency_doc(report.latency),
        "gpu_note": gpu_note(report),
        "wall_s": report.wall_s,
    }


def _verdict_doc(v: Verdict) -> dict:
    return {
        "winner": v.winner,
        "runner_up": v.runner_up,
        "speedup": v.speedup,
        "tie": v.tie,
        "text": v.text,
    }


# ---------------------------------------------------------------------------------------------------------
# Console
# ---------------------------------------------------------------------------------------------------------


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    """A table whose cells wrap instead of being cut when the console is narrow (piped output)."""
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left", overflow="fold")
    return table


def _range(r: ThroughputRuns) -> str:
    if r.status == "skipped":
        return "skipped"
    if not r.runs:
        return r.status
    text = f"{r.median:,.0f} ({r.low:,.0f}–{r.high:,.0f})"
    return f"{text} [status.error]broke[/]" if r.status == "error" else text


def crossover_table(report: BenchReport) -> Table:
    """Per width × env count: every placement's median (min–max) steps/s and the winner."""
    skipped = {s.name for s in report.skipped}
    placements = [p for p in report.options.placements if p not in skipped]  # skips are listed below
    repeats = report.options.repeats
    table = _table(
        f"throughput: env steps/s, median (min–max) of {repeats} repeats over a fixed window, no evaluation",
        "hidden",
        "envs",
        "window",
        *placements,
        "winner",
        right=("hidden", "envs", "window", *placements),
    )
    for cell in report.cells:
        by_name = {r.placement: r for r in cell.placements}
        v = verdict(cell)
        if v.winner is None:
            winner = "-"
        elif v.runner_up is None:
            winner = v.winner
        elif v.tie:
            winner = f"tie: {v.winner} ≈ {v.runner_up}"
        else:
            winner = f"{v.winner} ({v.speedup:.2f}x {v.runner_up})"
        table.add_row(
            str(cell.hidden),
            str(cell.num_envs),
            f"{cell.window_steps:,}",
            *(_range(by_name[p]) if p in by_name else "-" for p in placements),
            winner,
        )
    return table


def time_split_table(report: BenchReport) -> Table:
    """Per placement and cell: each phase's share of the typical repeat's wall time."""
    table = _table(
        "where the time went: share of the training wall time (typical repeat)",
        "placement",
        "hidden",
        "envs",
        *TIME_SPLIT,
        "optimizer",
        right=("hidden", "envs", *TIME_SPLIT),
    )
    for cell in report.cells:
        for r in cell.placements:
            t = r.typical
            if t is None:
                continue
            split = time_split(t)
            table.add_row(
                r.placement,
                str(r.hidden),
                str(r.num_envs),
                *(f"{100 * split[p]:.0f}%" for p in TIME_SPLIT),
                t.optimizer.implementation,
            )
    return table


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def solve_table(report: BenchReport) -> Table:
    """Per placement and width: solved or not, and how long it took with and without evaluation."""
    table = _table(
        f"solve: until a 10-episode evaluation mean ≥ {SOLVED_RETURN:g} "
        f"(cap {report.options.config.total_timesteps:,} steps)",
        "placement",
        "hidden",
        "envs",
        "result",
        "env steps",
        "s incl. eval",
        "s excl. eval",
        "return",
        "host MiB",
        "dev MiB",
        right=(
            "hidden",
            "envs",
            "env steps",
            "s incl. eval",
            "s excl. eval",
            "return",
            "host MiB",
            "dev MiB",
        ),
    )
    for s in report.solves:
        t = s.train
        if s.status == "skipped":
            continue  # listed with its reason below the tables
        if t is None:
            style = "status.skip" if s.status == "skipped" else "status.error"
            table.add_row(s.placement, str(s.hidden), str(s.num_envs), f"[{style}]{s.status}[/]", *[""] * 6)
            continue
        point = t.solved_at
        table.add_row(
            s.placement,
            str(s.hidden),
            str(s.num_envs),
            "[status.pass]solved[/]" if point else "[status.fail]not solved[/]",
            f"{(point.env_steps if point else t.env_steps):,}",
            f"{(point.wall_s if point else t.wall_s):.1f}",
            f"{(point.train_s if point else t.wall_s - t.phases.get('eval', 0.0)):.1f}",
            f"{t.eval_mean:.0f}",
            _mib(t.peak_host_mib),
            _mib(t.peak_device_mib),
        )
    return table


def latency_table(probes: LatencyProbes) -> Table:
    """The copy probes, µs per copy."""
    table = _table(
        f"latency on {probes.device}: launch {probes.launch_us:.1f} µs, sync round trip "
        + ("-" if probes.sync_us is None else f"{probes.sync_us:.1f} µs")
        + "; copies of observations, µs",
        "what",
        "envs",
        "bytes",
        "H2D pageable",
        "H2D pinned",
        "D2H pageable",
        "D2H pinned",
        right=("envs", "bytes", "H2D pageable", "H2D pinned", "D2H pageable", "D2H pinned"),
    )

    def us(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f}"

    for c in probes.copies:
        table.add_row(
            c.what,
            str(c.num_envs),
            f"{c.nbytes:,}",
            us(c.h2d_pageable_us),
            us(c.h2d_pinned_us),
            us(c.d2h_pageable_us),
            us(c.d2h_pinned_us),
        )
    return table


def render(report: BenchReport, console: Console) -> None:
    """Print the tables, the deciding costs, the numerics line, skipped reasons and the verdicts."""
    console.print(crossover_table(report))
    console.print(time_split_table(report))
    console.print(solve_table(report))
    if report.latency.status == "ok":
        console.print(latency_table(report.latency))
    elif report.latency.status == "error":
        console.print(f"[status.error]latency probes broke[/]: {escape(report.latency.reason or '')}")
    for cell in report.cells:
        for r in cell.placements:
            sentence = deciding_cost(r, report.latency)
            if sentence:
                console.print(f"decided by: {escape(sentence)}")
    by_reason: dict[str, list[str]] = {}
    for s in report.skipped:
        by_reason.setdefault(s.reason, []).append(s.name)
    for reason, names in by_reason.items():
        console.print(f"[status.skip]{', '.join(names)} skipped[/]: {escape(reason)}")
    n = report.numerics
    if n.status == "skip" and n.reason in by_reason:
        console.print("[status.skip]numerics check skipped[/]: no device placement ran")
    else:
        style = {"pass": "status.pass", "skip": "status.skip"}.get(n.status, "status.fail")
        console.print(
            f"[{style}]numerics check {NUMERICS_LABEL[n.status]}[/]: {escape(numerics_text(report))}"
        )
    note = gpu_note(report)
    if note:
        console.print(f"note: {escape(note)}")
    for line in gpu_crossover(report):
        console.print(f"[summary.line]crossover: {escape(line)}[/]")
    for cell in report.cells:
        console.print(f"[summary.line]verdict: {escape(verdict(cell).text)}[/]")
    for problem in failures(report):
        console.print(f"[status.fail]problem: {escape(problem)}[/]")
