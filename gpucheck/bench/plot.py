"""``--plot FILE.png``: evaluation return over wall time per placement, and where the time went.

Uses matplotlib's object API with the Agg canvas directly (no pyplot), so it needs no display and leaves
matplotlib's global backend alone.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpucheck.bench.ppo import SOLVED_RETURN
from gpucheck.bench.runner import BenchReport
from gpucheck.bench.summary import TIME_SPLIT

PHASE_COLOURS = {
    "env": "#4c72b0",
    "inference": "#55a868",
    "transfer": "#c44e52",
    "update": "#8172b2",
    "eval": "#ccb974",
    "other": "#999999",
}


def write_plot(report: BenchReport, path: Path) -> Path:
    """Draw both panels and save them as a PNG at ``path``."""
    ran = [r for r in report.results if r.train is not None]
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    curves, split = fig.subplots(1, 2)
    for r in ran:
        points = r.train.curve
        curves.plot(
            [p.wall_s for p in points],
            [p.mean_return for p in points],
            marker="o",
            label=f"{r.placement}, hidden {r.hidden}",
        )
    curves.axhline(
        SOLVED_RETURN, linestyle="--", color="grey", linewidth=1, label=f"solved ({SOLVED_RETURN:g})"
    )
    curves.set(xlabel="wall time, s", ylabel="evaluation mean return", title="return over wall time")
    curves.legend(loc="lower right", fontsize="small")

    labels = [f"{r.placement}\nh{r.hidden}" for r in ran]
    left = [0.0] * len(ran)
    for phase in TIME_SPLIT:
        seconds = [r.train.phases.get(phase, 0.0) for r in ran]
        split.barh(labels, seconds, left=left, color=PHASE_COLOURS[phase], label=phase)
        left = [a + b for a, b in zip(left, seconds, strict=True)]
    split.set(xlabel="seconds", title="time split per placement")
    split.invert_yaxis()
    split.legend(loc="lower right", fontsize="small")
    skipped = [f"{r.placement} (h{r.hidden}): {r.status}" for r in report.results if r.train is None]
    if skipped:
        fig.suptitle("not run: " + "; ".join(skipped), fontsize="small")
    fig.savefig(path, format="png", dpi=100)
    return path
