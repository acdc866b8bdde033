"""``gpucheck doctor``, ``gpucheck snapshot`` and ``gpucheck checks``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from gpucheck.ci.config import ExpectationError
from gpucheck.ci.detect import CiSystem, resolve_ci
from gpucheck.cli.ci_output import ci_stdout_taken, emit_github, emit_gitlab, read_expectations
from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples, plain
from gpucheck.collect.evidence import Evidence
from gpucheck.collect.snapshot import SnapshotError, read_snapshot, write_snapshot
from gpucheck.collect.sources.frameworks import PRECISIONS, parse_logical_gpus
from gpucheck.diagnose.checks.expectations import unused_checks
from gpucheck.diagnose.finding import Report
from gpucheck.diagnose.registry import (
    LAYERS,
    UnknownSelectionError,
    load_checks,
    select_checks,
)
from gpucheck.pipeline import DoctorOptions, doctor, gather
from gpucheck.report.console import render_console
from gpucheck.report.gitlab import default_junit_path
from gpucheck.report.json_report import render_json
from gpucheck.report.junit_xml import render_junit
from gpucheck.report.markdown import render_markdown
from gpucheck.report.theme import THEME


def _split(values: list[str] | None) -> tuple[str, ...]:
    """``--only a,b --only c`` → ``("a", "b", "c")``."""
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"gpucheck: error: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


def exit_code_for(report: Report, *, strict: bool) -> ExitCode:
    """0 when nothing failed, 1 when something failed (or warned, with ``strict``)."""
    return ExitCode.FAILED if report.failed(strict=strict) else ExitCode.OK


CHECK, OUTPUT, EXPECT, CONTAINERS, FRAMEWORKS = (
    "What to check",
    "Output",
    "CI expectations",
    "Containers",
    "Frameworks",
)
"""The option panels of ``gpucheck doctor --help``."""
CONFIG_HELP = plain("TOML file with an [expect] table.")


def doctor_command(
    only: list[str] | None = typer.Option(
        None,
        "--only",
        help="Run only these checks or layers (comma-separated), and the probes they need.",
        rich_help_panel=CHECK,
    ),
    skip: list[str] | None = typer.Option(
        None,
        "--skip",
        help="Skip these checks or layers (comma-separated); a skipped layer starts none of its probes.",
        rich_help_panel=CHECK,
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Overall time limit in seconds.", rich_help_panel=CHECK
    ),
    sysroot: Path = typer.Option(
        Path("/"),
        "--sysroot",
        help="Read every file under this root (a mounted image).",
        rich_help_panel=CHECK,
    ),
    replay: Path | None = typer.Option(
        None, "--replay", help="Diagnose a snapshot taken with `gpucheck snapshot`.", rich_help_panel=CHECK
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="-v: every finding, with per-step probe timings; -vv: also the evidence behind each.",
        rich_help_panel=OUTPUT,
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the JSON report (schema: report.schema.json).", rich_help_panel=OUTPUT
    ),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the report as Markdown (for an issue).", rich_help_panel=OUTPUT
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Also write a JUnit XML report to this file.", rich_help_panel=OUTPUT
    ),
    ci: str = typer.Option(
        "auto",
        "--ci",
        help="CI output: auto (from GITHUB_ACTIONS / GITLAB_CI), github, gitlab or none.",
        rich_help_panel=OUTPUT,
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too.", rich_help_panel=EXPECT),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP, rich_help_panel=EXPECT),
    expect_gpus: int | None = typer.Option(
        None, "--expect-gpus", help="Expect exactly N GPUs.", rich_help_panel=EXPECT
    ),
    expect_gpu_name: str | None = typer.Option(
        None,
        "--expect-gpu-name",
        help="Expect every GPU name to match this regex (case-insensitive).",
        rich_help_panel=EXPECT,
    ),
    expect_driver: str | None = typer.Option(
        None,
        "--expect-driver",
        help="Expect the driver version to match SPEC ('>=550,<560'; '550': 550.x).",
        rich_help_panel=EXPECT,
    ),
    expect_cuda: str | None = typer.Option(
        None,
        "--expect-cuda",
        help="Expect the driver's CUDA version to match SPEC ('>=12.4').",
        rich_help_panel=EXPECT,
    ),
    expect_framework: list[str] | None = typer.Option(
        None,
        "--expect-framework",
        help="Expect torch or tensorflow to see a GPU (repeatable).",
        rich_help_panel=EXPECT,
    ),
    expect_mem_gib: float | None = typer.Option(
        None, "--expect-mem-gib", help="Expect ≥ N GiB on each GPU.", rich_help_panel=EXPECT
    ),
    container_smoke: bool = typer.Option(
        False,
        "--container-smoke",
        help="Run nvidia-smi in a CUDA container through the Docker SDK (opt-in).",
        rich_help_panel=CONTAINERS,
    ),
    smoke_image: str = typer.Option(
        "",
        "--smoke-image",
        help="Image for --container-smoke (default: a CUDA base image matching the driver).",
        rich_help_panel=CONTAINERS,
    ),
    python: str = typer.Option(
        "",
        "--python",
        help="Probe the frameworks of this interpreter (default: this one).",
        rich_help_panel=FRAMEWORKS,
    ),
    tf_logical_gpus: str = typer.Option(
        "",
        "--tf-logical-gpus",
        help="Split GPU 0 into N logical TensorFlow GPUs of MB each: N or NxMB.",
        rich_help_panel=FRAMEWORKS,
    ),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="Mixed precision you train with: auto, fp16, bf16, fp32 (checked per GPU).",
        rich_help_panel=FRAMEWORKS,
    ),
) -> None:
    """Diagnose the NVIDIA driver, CUDA toolkit, frameworks and containers, and print the fixes."""
    options: dict[str, Any] = {"container_smoke": smoke_image or container_smoke, "precision": precision}
    if precision not in PRECISIONS:
        raise _usage_error(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    try:
        options.update(parse_logical_gpus(tf_logical_gpus) if tf_logical_gpus else {})
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    if python and not Path(python).exists():
        raise _usage_error(f"--python {python}: no such interpreter")
    if ci not in ("auto", *(c.value for c in CiSystem)):
        raise _usage_error(f"--ci {ci}: choose auto, github, gitlab or none")
    if json_out and markdown:
        raise _usage_error("--json and --markdown both print to stdout: choose one")
    try:
        options["expectations"] = read_expectations(
            config,
            gpus=expect_gpus,
            gpu_name=expect_gpu_name,
            driver=expect_driver,
            cuda=expect_cuda,
            frameworks=expect_framework or (),
            mem_gib=expect_mem_gib,
        )
    except ExpectationError as exc:
        raise _usage_error(str(exc)) from None
    opts = DoctorOptions(
        sysroot=str(sysroot),
        python=python,
        only=_split(only),
        skip=_split(skip) + unused_checks(options["expectations"]),
        timeout_s=timeout,
        options=options,
    )
    try:
        snapshot = read_snapshot(replay) if replay is not None else None
        report, evidence = doctor(opts, replay=snapshot)
    except (SnapshotError, UnknownSelectionError) as exc:
        raise _usage_error(str(exc)) from None
    code = exit_code_for(report, strict=strict)
    try:
        emit_report(
            report,
            code,
            json_out=json_out,
            junit=junit,
            verbose=verbose,
            evidence=evidence,
            markdown=markdown,
            ci=resolve_ci(ci, os.environ),
        )
    except OutputError as exc:
        raise _usage_error(str(exc)) from None
    raise typer.Exit(int(code))


class OutputError(OSError):
    """A report file (``--junit``, ``-o``, ``$GITHUB_STEP_SUMMARY``) cannot be written: a usage error."""


def _write_output(what: str, path: Path | str, write: Any) -> Any:
    """Run ``write()``; an ``OSError`` becomes an ``OutputError`` naming the option and the path."""
    try:
        return write()
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def emit_report(
    report: Report,
    code: ExitCode,
    *,
    json_out: bool,
    junit: Path | None,
    verbose: int,
    evidence: Evidence,
    markdown: bool = False,
    ci: CiSystem = CiSystem.NONE,
) -> None:
    """Write the report in every format asked for, plus the CI's own output (annotations, sections)."""
    if ci is CiSystem.GITLAB and junit is None:
        junit = default_junit_path(os.environ)
    if junit is not None:
        text = render_junit(report)
        _write_output("--junit", junit, lambda: junit.write_text(text, encoding="utf-8"))
    if ci is CiSystem.GITHUB:
        summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
        _write_output(
            "$GITHUB_STEP_SUMMARY",
            summary,
            lambda: emit_github(report, os.environ, machine_stdout=json_out or markdown),
        )
    if json_out:
        sys.stdout.write(render_json(report, exit_code=int(code)))
        return
    if markdown:
        sys.stdout.write(render_markdown(report))
        return
    if ci_stdout_taken(ci, json_out=json_out, markdown=markdown):
        emit_gitlab(report, verbose=verbose, evidence=evidence)
        return
    console = Console(theme=THEME, highlight=False)
    render_console(report, console, verbose=verbose, evidence=evidence)


def snapshot_command(
    output: Path = typer.Option(..., "--output", "-o", help="Write the snapshot JSON here."),
    only: list[str] | None = typer.Option(
        None, "--only", help="Collect only what these checks or layers need."
    ),
    skip: list[str] | None = typer.Option(None, "--skip", help="Skip what only these checks or layers need."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.1, help="Overall time limit in seconds."),
    sysroot: Path = typer.Option(Path("/"), "--sysroot", help="Read every file under this root."),
    python: str = typer.Option("", "--python", help="Probe the frameworks of this interpreter."),
) -> None:
    """Write the raw evidence (secrets redacted) as JSON, for `gpucheck doctor --replay` elsewhere."""
    try:
        checks = select_checks(_split(only), _split(skip))
    except UnknownSelectionError as exc:
        raise _usage_error(str(exc)) from None
    opts = DoctorOptions(sysroot=str(sysroot), python=python, skip=_split(skip), timeout_s=timeout)
    evidence = gather(opts, checks)
    try:
        _write_output("-o", output, lambda: write_snapshot(evidence, output))
    except OutputError as exc:
        raise _usage_error(str(exc)) from None
    failed = [s.name for s in evidence.collectors.values() if not s.ok]
    typer.echo(
        f"wrote {output}: {len(evidence.items)} evidence items from {len(evidence.collectors)} probes"
        + (f" ({len(failed)} failed: {', '.join(failed)})" if failed else "")
    )


def checks_command() -> None:
    """List every check id with its layer and title (for --only / --skip)."""
    console = Console(theme=THEME, highlight=False, soft_wrap=True)
    for c in load_checks().values():
        line = Text(f"{LAYERS[c.layer]:<22}", style="layer.heading").append(f" {c.id:<32} {c.title}")
        console.print(line)


def register(app: typer.Typer) -> None:
    """Add doctor, snapshot and checks to the app."""
    app.command("doctor", epilog=examples("doctor"))(doctor_command)
    app.command("snapshot", epilog=examples("snapshot"))(snapshot_command)
    app.command("checks", epilog=examples("checks"))(checks_command)
