"""``--plot FILE.png``: steps/s against env count and against width per placement, and the time split.

Three panels: throughput (median, with the min–max of the repeats as error bars) over the env counts at the
first width, throughput over the widths at the first env count, and each placement's time split as
fractions of its wall time (runs of different length compare as shares, not seconds).

Uses matplotlib's object API with the Agg canvas directly (no pyplot), so it needs no display and leaves
matplotlib's global backend alone.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpucheck.bench.runner import BenchReport, ThroughputRuns
from gpucheck.bench.summary import TIME_SPLIT, time_split

PHASE_COLOURS = {
    "env": "#4c72b0",
    "inference": "#55a868",
    "transfer": "#c44e52",
    "update": "#8172b2",
    "other": "#999999",
}


def _series(axes: Axes, report: BenchReport, runs_of: dict[str, list[tuple[int, ThroughputRuns]]]) -> None:
    for name in report.options.placements:
        points = [(x, r) for x, r in runs_of.get(name, []) if r.runs]
        if not points:
            continue
        xs = [x for x, _ in points]
        medians = [r.median for _, r in points]
        below = [r.median - r.low for _, r in points]
        above = [r.high - r.median for _, r in points]
        axes.errorbar(xs, medians, yerr=[below, above], marker="o", capsize=3, label=name)


def write_plot(report: BenchReport, path: Path) -> Path:
    """Draw the three panels and save them as a PNG at ``path``."""
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    by_envs, by_width, split = fig.subplots(1, 3)
    hidden0, envs0 = report.options.hidden[0], report.options.envs[0]

    along_envs: dict[str, list[tuple[int, ThroughputRuns]]] = {}
    along_width: dict[str, list[tuple[int, ThroughputRuns]]] = {}
    for cell in report.cells:
        for r in cell.placements:
            if cell.hidden == hidden0:
                along_envs.setdefault(r.placement, []).append((cell.num_envs, r))
            if cell.num_envs == envs0:
                along_width.setdefault(r.placement, []).append((cell.hidden, r))
    _series(by_envs, report, along_envs)
    by_envs.set(
        xlabel="parallel environments",
        ylabel="env steps/s",
        title=f"throughput vs env count (hidden {hidden0})",
    )
    _series(by_width, report, along_width)
    by_width.set(xlabel="hidden width", ylabel="env steps/s", title=f"throughput vs width ({envs0} envs)")
    for axes, values in ((by_envs, report.options.envs), (by_width, report.options.hidden)):
        if len(values) > 1 and max(values) / min(values) >= 8:
            axes.set_xscale("log", base=2)
        axes.set_xticks(list(values), [str(v) for v in values])
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")

    ran = [r for cell in report.cells for r in cell.placements if r.typical is not None]
    labels = [f"{r.placement}\nh{r.hidden} e{r.num_envs}" for r in ran]
    left = [0.0] * len(ran)
    for phase in TIME_SPLIT:
        shares = [time_split(r.typical)[phase] for r in ran]
        split.barh(labels, shares, left=left, color=PHASE_COLOURS[phase], label=phase)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    split.set(xlabel="fraction of wall time", xlim=(0, 1), title="time split (typical repeat)")
    split.invert_yaxis()
    split.legend(loc="lower right", fontsize="small")
    if report.skipped:
        fig.suptitle(
            "not run: " + "; ".join(f"{s.name}: {s.reason[:80]}" for s in report.skipped), fontsize="small"
        )
    fig.savefig(path, format="png", dpi=100)
    return path
