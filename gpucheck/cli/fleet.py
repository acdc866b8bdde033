"""``gpucheck fleet report`` merges per-node doctor reports; ``fleet manifest`` runs doctor on each node."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console

from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples
from gpucheck.fleet.load import FleetInputError, iter_reports
from gpucheck.fleet.manifest import (
    DEFAULT_IMAGE,
    DEFAULT_NODE_SELECTOR,
    ManifestError,
    ManifestOptions,
    parse_node_selector,
    render_k8s,
    render_slurm,
)
from gpucheck.fleet.merge import merge_stream
from gpucheck.fleet.render import ROW_LIMIT, render_console, render_json, render_markdown
from gpucheck.report.theme import THEME

fleet_app = typer.Typer(
    name="fleet", help="Run doctor across many nodes and merge their reports.", no_args_is_help=True
)


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"gpucheck: error: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


@fleet_app.command("report", epilog=examples("fleet report"))
def report_command(
    reports: list[Path] = typer.Argument(  # noqa: B008 - typer declares arguments as defaults
        ..., help="doctor --json reports: files, or directories of *.json."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the merged view as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the merged view as Markdown."),
    node_name: str = typer.Option(
        "hostname", "--node-name", help="Name nodes by the report's hostname, or by the file name ('file')."
    ),
    limit: int = typer.Option(
        ROW_LIMIT, "--limit", help="Nodes listed in the console and Markdown tables, outliers first (0: all)."
    ),
) -> None:
    """Merge per-node doctor reports: failing checks, drivers, CUDA versions, GPU models; outliers first.

    Exits 1 when a node failed or a report could not be merged, 2 when no report was found.
    """
    if json_out and markdown:
        raise _usage_error("--json and --markdown both print to stdout: choose one")
    if node_name not in ("hostname", "file"):
        raise _usage_error(f"--node-name {node_name}: choose hostname or file")
    if limit < 0:
        raise _usage_error(f"--limit {limit}: give 0 (every node) or a positive number")
    try:
        members = iter_reports(reports, name_from=node_name)
    except FleetInputError as exc:
        raise _usage_error(str(exc)) from None
    fleet = merge_stream(members)
    if json_out:
        sys.stdout.write(render_json(fleet))
    elif markdown:
        sys.stdout.write(render_markdown(fleet, limit=limit))
    else:
        render_console(fleet, Console(theme=THEME, highlight=False), limit=limit)
    raise typer.Exit(int(ExitCode.FAILED if fleet.failed else ExitCode.OK))


@fleet_app.command("manifest", epilog=examples("fleet manifest"))
def manifest_command(
    k8s: bool = typer.Option(False, "--k8s", help="Render a Kubernetes DaemonSet or Job."),
    slurm: bool = typer.Option(False, "--slurm", help="Render a Slurm sbatch script."),
    node_selector: list[str] | None = typer.Option(  # noqa: B008 - typer declares options as defaults
        None, "--node-selector", help="Node label k=v, repeatable (default nvidia.com/gpu.present=true)."
    ),
    namespace: str = typer.Option("gpucheck", "--namespace", help="Kubernetes namespace."),
    image: str = typer.Option(DEFAULT_IMAGE, "--image", help="Image with gpucheck (from dockerfiles/)."),
    workload: str = typer.Option("daemonset", "--workload", help="Kubernetes: daemonset or job."),
    nodes: int = typer.Option(1, "--nodes", help="Job pods / Slurm nodes (one report each)."),
    gpus: int = typer.Option(1, "--gpus", help="GPUs per pod (nvidia.com/gpu) / Slurm --gres gpu:N."),
    pvc: str = typer.Option("", "--pvc", help="Kubernetes: write reports to this ReadWriteMany claim."),
    reports_dir: str = typer.Option(
        "$HOME/gpucheck-reports", "--reports-dir", help="Slurm: shared directory for the reports."
    ),
    partition: str = typer.Option("", "--partition", help="Slurm partition."),
    doctor_args: str = typer.Option(
        "", "--doctor-args", help='Extra doctor arguments, e.g. "--expect-gpus 8".'
    ),
    output: Path | None = typer.Option(  # noqa: B008 - typer declares options as defaults
        None, "--output", "-o", help="Write here instead of stdout."
    ),
) -> None:
    """Render the manifest that runs `gpucheck doctor --json` once per node, for `gpucheck fleet report`."""
    if k8s == slurm:
        raise _usage_error("choose one of --k8s or --slurm")
    try:
        args = shlex.split(doctor_args)
        _check_doctor_args(args)
        selector = parse_node_selector(node_selector) if node_selector else dict(DEFAULT_NODE_SELECTOR)
        opts = ManifestOptions(
            namespace=namespace,
            image=image,
            node_selector=selector,
            doctor_args=args,
            gpus=gpus,
            workload=workload,
            nodes=nodes,
            pvc=pvc,
            reports_dir=reports_dir,
            partition=partition,
        )
        name = output.name if output else "gpucheck-fleet.sbatch"
        text = render_k8s(opts) if k8s else render_slurm(opts, filename=name)
    except (ManifestError, ValueError) as exc:
        raise _usage_error(str(exc)) from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def _check_doctor_args(args: list[str]) -> None:
    """Refuse a ``--doctor-args`` option that ``gpucheck doctor`` lacks (before it fails on 100 nodes)."""
    from gpucheck.cli import app  # NOTE: imported here: gpucheck.cli imports this module while it loads

    doctor = typer.main.get_command(app).commands["doctor"]  # type: ignore[attr-defined]
    known = {opt for param in doctor.params for opt in param.opts}
    for arg in args:
        name = arg.split("=", 1)[0]
        if name.startswith("-") and name not in known:
            raise ManifestError(f"--doctor-args: gpucheck doctor has no option {name}")
        if name in ("--json", "--markdown"):
            raise ManifestError(f"--doctor-args: {name} is set by the manifest itself")


def register(app: typer.Typer) -> None:
    """Add the ``fleet`` command group to the app."""
    app.add_typer(fleet_app, name="fleet")
