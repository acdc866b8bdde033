"""The example CI files pass their linters (offline) and call only gpucheck commands that exist."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
import yaml

from gpucheck.ci.config import load_config
from gpucheck.cli import app

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
WORKFLOW = EXAMPLES / "github" / "workflows" / "gpu-runner.yml"
GITLAB = EXAMPLES / "gitlab" / ".gitlab-ci.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `pip install -e '.[test]'` provides it")
    return path


def test_workflow_passes_actionlint():
    result = subprocess.run(
        [_tool("actionlint"), "-config-file", str(EXAMPLES / "github" / "actionlint.yaml"), str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    result = subprocess.run(
        [_tool("actionlint"), "-config-file", str(EXAMPLES / "github" / "actionlint.yaml"), str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "runs_on" in result.stdout


def test_gitlab_job_passes_the_vendored_gitlab_ci_schema():
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_job_uploads_the_junit_report_doctor_writes():
    job = yaml.safe_load(GITLAB.read_text())["gpu-runner-health"]
    assert job["artifacts"]["reports"]["junit"] == "gpucheck-junit.xml"
    assert any("--junit gpucheck-junit.xml" in line for line in job["script"])


def test_the_example_contract_is_a_valid_config():
    expectations = load_config(EXAMPLES / "gpucheck.toml")
    assert expectations.gpus == 1 and expectations.frameworks == ("torch",)
    assert expectations.driver is not None and expectations.driver.admits("550.54.14")


def _commands() -> list[tuple[str, list[str]]]:
    """Every ``gpucheck ...`` command line in the workflow's run steps and the GitLab job's scripts."""
    lines: list[tuple[str, str]] = []
    for step in yaml.safe_load(WORKFLOW.read_text())["jobs"]["gpucheck"]["steps"]:
        lines += [(WORKFLOW.name, line) for line in step.get("run", "").splitlines()]
    job = yaml.safe_load(GITLAB.read_text())["gpu-runner-health"]
    lines += [(GITLAB.name, line) for line in job["before_script"] + job["script"]]
    found = []
    for source, line in lines:
        words = shlex.split(line.split(">")[0])
        if words and words[0] == "gpucheck":
            found.append((source, words[1:]))
    return found


def test_examples_call_gpucheck_at_least_doctor_and_bench_smoke():
    called = {(source, words[0]) for source, words in _commands()}
    for source in (WORKFLOW.name, GITLAB.name):
        assert {(source, "doctor"), (source, "bench-smoke")} <= called


@pytest.mark.parametrize(
    ("source", "words"), _commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v)
)
def test_every_command_and_flag_the_examples_use_exists(source: str, words: list[str]):
    # NOTE: typer vendors its own click, so groups are recognised by their ``commands`` mapping.
    command = typer.main.get_command(app)
    args = list(words)
    while hasattr(command, "commands") and args and not args[0].startswith("-"):
        name = args.pop(0)
        assert name in command.commands, f"{source}: gpucheck has no command {name!r}"
        command = command.commands[name]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for arg in args:
        if arg.startswith("-"):
            assert arg.split("=", 1)[0] in options, f"{source}: `gpucheck {' '.join(words)}`: no option {arg}"
    # And the parser accepts the whole line (values of the right type, no missing arguments).
    command.make_context("gpucheck", list(args), resilient_parsing=False)
