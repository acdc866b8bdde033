"""CI-native output: GitHub annotations and job summary, GitLab sections and JUnit, the Markdown report.

The escaping cases are the ones the Actions toolkit's own tests use (actions/toolkit
packages/core/__tests__/command.test.ts, "command escapes message" / "command escapes property").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.report.github import (
    annotation,
    escape_data,
    escape_property,
    render_annotations,
    workflow_command,
)
from gpucheck.report.gitlab import section_end, section_start, wrap_section
from gpucheck.report.markdown import cell, render_markdown
from tests.conftest import base_env

SNAPSHOT = Path(__file__).parent.parent / "fixtures" / "system" / "snapshots" / "nvml_two_h100.json"
ANNOTATION = re.compile(r"^::(error|warning|notice)( [A-Za-z]+=[^,:]*(,[A-Za-z]+=[^,:]*)*)?::[^\r\n]*$")
"""``::command prop=value,...::message`` with no raw CR/LF anywhere and no raw ':' or ',' inside a value."""


def test_message_escaping_matches_the_toolkit():
    assert workflow_command("some-command", "percent % percent % cr \r cr \r lf \n lf \n") == (
        "::some-command::percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A"
    )
    assert escape_data("%25 %25 %0D %0D %0A %0A") == "%2525 %2525 %250D %250D %250A %250A"


def test_property_escaping_matches_the_toolkit():
    name = "percent % percent % cr \r cr \r lf \n lf \n colon : colon : comma , comma ,"
    assert workflow_command("some-command", "", {"name": name}) == (
        "::some-command name=percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A colon %3A colon %3A "
        "comma %2C comma %2C::"
    )
    assert escape_property("%25 %3A %2C") == "%2525 %253A %252C"


def _finding(status: Status, check: str = "gpu.present", summary: str = "s", fix: str = "") -> Finding:
    return Finding(check, status, summary, fix, title="the driver sees at least one GPU", layer="gpu")


def test_annotation_per_problem_finding():
    fail = _finding(
        Status.FAIL, summary="driver 550 is loaded but reports no GPU", fix="run `lspci | grep -i nvidia`"
    )
    assert annotation(fail) == (
        "::error title=gpucheck gpu.present%3A the driver sees at least one GPU::"
        "driver 550 is loaded but reports no GPU%0AFix: run `lspci | grep -i nvidia`"
    )
    assert annotation(_finding(Status.WARN)).startswith("::warning title=")
    assert annotation(_finding(Status.ERROR)).startswith("::error title=")
    assert annotation(_finding(Status.PASS)) is None and annotation(_finding(Status.SKIP)) is None


def test_annotations_worst_first_and_each_one_line():
    report = Report(
        (_finding(Status.WARN, "a.w"), _finding(Status.PASS), _finding(Status.FAIL, "b.f", "x\ny"))
    )
    lines = render_annotations(report).splitlines()
    assert [line.split(" ")[0] for line in lines] == ["::error", "::warning"]
    assert all(ANNOTATION.match(line) for line in lines), lines


def test_doctor_under_github_actions_annotates_and_writes_the_job_summary(invoke, tmp_path: Path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    env = base_env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    result = invoke(
        "doctor", "--replay", str(SNAPSHOT), "--only", "gpu,expect", "--expect-gpus", "4", env=env
    )
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    head, fix = lines[0].split("%0AFix: ", 1)
    assert head == (
        "::error title=gpucheck expect.gpus%3A the expected number of GPUs is visible::2 GPU(s) visible, "
        "expected 4"
    )
    # the fix names how to see the GPUs, why one may be missing, and the contract flag to change
    assert fix.startswith("Compare `nvidia-smi -L` with the node's hardware")
    assert "CUDA_VISIBLE_DEVICES" in fix and "`--expect-gpus 4`" in fix
    assert "%0A" not in fix, "one annotation is one line"
    assert all(ANNOTATION.match(line) for line in lines)
    # exclusive compute, MIG (the x8 link is information: the snapshot has no P-state to judge it by)
    assert sum(line.startswith("::warning ") for line in lines) == 2
    text = summary.read_text()
    assert text.startswith("# earlier step\n## gpucheck doctor: failed on `h100-node`")
    assert "| ❌ fail | `expect.gpus` | 2 GPU(s) visible, expected 4 |" in text


def test_json_stays_clean_under_github_actions(invoke):
    result = invoke(
        "doctor",
        "--replay",
        str(SNAPSHOT),
        "--only",
        "expect",
        "--expect-gpus",
        "4",
        "--json",
        env=base_env(GITHUB_ACTIONS="true"),
    )
    assert result.json()["status"] == "fail"  # stdout is pure JSON
    assert result.stderr.startswith("::error title=gpucheck expect.gpus")


def test_ci_none_turns_annotations_off(invoke):
    result = invoke(
        "doctor",
        "--replay",
        str(SNAPSHOT),
        "--only",
        "expect",
        "--expect-gpus",
        "4",
        "--ci",
        "none",
        env=base_env(GITHUB_ACTIONS="true"),
    )
    assert "::error" not in result.stdout + result.stderr


def test_gitlab_section_markers():
    assert section_start("gpucheck_doctor", "Doctor", timestamp=1700000000, collapsed=True) == (
        "\x1b[0Ksection_start:1700000000:gpucheck_doctor[collapsed=true]\r\x1b[0KDoctor\n"
    )
    assert section_end("gpucheck_doctor", timestamp=1700000005) == (
        "\x1b[0Ksection_end:1700000005:gpucheck_doctor\r\x1b[0K\n"
    )
    passing = wrap_section("body", Report((_finding(Status.PASS),)), start=1, end=2)
    assert "[collapsed=true]" in passing and "\nbody\n" in passing
    failing = wrap_section("body", Report((_finding(Status.FAIL),)), start=1, end=2)
    assert "[collapsed=true]" not in failing and "gpucheck doctor: 1 problem(s) (1 findings)" in failing


def test_doctor_under_gitlab_writes_junit_and_a_section(invoke, tmp_path: Path):
    env = base_env(GITLAB_CI="true", CI_PROJECT_DIR=str(tmp_path))
    result = invoke(
        "doctor", "--replay", str(SNAPSHOT), "--only", "gpu,expect", "--expect-gpus", "4", env=env
    )
    assert result.exit_code == 1
    out = result.stdout
    start = re.match(r"\x1b\[0Ksection_start:(\d+):gpucheck_doctor\r\x1b\[0Kgpucheck doctor: 1 problem", out)
    assert start, out[:200]
    assert re.search(r"\x1b\[0Ksection_end:(\d+):gpucheck_doctor\r\x1b\[0K\n$", out)
    assert "2 GPU(s) visible, expected 4" in out
    suite = ET.parse(tmp_path / "gpucheck-junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1"
    failing = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failing == ["expect.gpus"]


def test_markdown_report(invoke):
    result = invoke("doctor", "--replay", str(SNAPSHOT), "--only", "gpu", "--markdown", "--ci", "none")
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("## gpucheck doctor: passed with warnings on `h100-node`\n\n")
    assert (
        "### Problems\n\n| Status | Check | Finding | Fix |\n|---|---|---|---|\n| ⚠️ warn | `gpu.modes` |"
        in md
    )
    # main's 6 plus gpu.consistency (NVML is the only source in this snapshot: a skip)
    assert "<details>\n<summary>All 7 findings</summary>" in md and md.rstrip().endswith("</details>")
    # Every table row has the same number of unescaped cell separators as its header.
    for row in [line for line in md.splitlines() if line.startswith("| ⚠️") or line.startswith("| ✅")]:
        assert len(re.findall(r"(?<!\\)\|", row)) in (5, 6), row


def test_markdown_cells_escape_pipes_and_newlines():
    assert cell("a | b\nc\\d") == "a \\| b<br>c\\\\d"
    report = Report((_finding(Status.FAIL, summary="x|y", fix="run `a | b`"),), meta={"hostname": "n1"})
    assert "| ❌ fail | `gpu.present` | x\\|y | run `a \\| b` |" in render_markdown(report)
