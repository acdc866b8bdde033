import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
from rich.console import Console

import gpucheck
from gpucheck.collect.evidence import CommandRun, Evidence
from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.report.console import render_console, summary_line
from gpucheck.report.json_report import ENVELOPE_KEYS, report_to_json
from gpucheck.report.junit_xml import render_junit, xml_safe
from gpucheck.report.theme import STATUS_LABEL

SCHEMAS = Path(gpucheck.__file__).parent / "schemas"


def _report():
    return Report(
        findings=(
            Finding(
                "driver.loaded",
                Status.FAIL,
                "NVIDIA driver not loaded",
                "sudo apt install nvidia-driver-550",
                ("cmd:nvidia-smi",),
                {"driver": None},
                "driver loaded",
                "driver",
            ),
            Finding(
                "toolkit.nvcc",
                Status.PASS,
                "nvcc 13.0 at /usr/local/cuda-13.0/bin/nvcc",
                "",
                (),
                {},
                "nvcc found",
                "toolkit",
            ),
            Finding(
                "environ.cvd",
                Status.WARN,
                "CUDA_VISIBLE_DEVICES is empty\x1b[0m",
                "unset CUDA_VISIBLE_DEVICES",
                (),
                {},
                "cvd",
                "environ",
            ),
            Finding("torch.import", Status.SKIP, "torch is not installed", "", (), {}, "torch", "torch"),
            Finding("gpu.health", Status.ERROR, "nvml probe timed out", "re-run", (), {}, "health", "gpu"),
        ),
        meta={"hostname": "node-1", "duration_s": 0.5},
    )


def test_json_envelope_has_exact_keys_and_validates():
    doc = report_to_json(_report(), exit_code=1)
    assert set(doc) == ENVELOPE_KEYS
    assert doc["status"] == "fail" and doc["counts"] == {
        "pass": 1,
        "warn": 1,
        "fail": 1,
        "skip": 1,
        "error": 1,
    }
    jsonschema.validate(doc, json.loads((SCHEMAS / "report.schema.json").read_text()))


def test_schema_rejects_a_failure_without_remediation():
    doc = report_to_json(_report(), exit_code=1)
    doc["findings"][0]["remediation"] = ""
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "report.schema.json").read_text()))
    assert list(validator.iter_errors(doc))


def test_junit_has_one_case_per_finding_and_escapes_control_characters():
    root = ET.fromstring(render_junit(_report()).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("errors") == "1"
    assert suite.get("skipped") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "driver.loaded",
        "toolkit.nvcc",
        "environ.cvd",
        "torch.import",
        "gpu.health",
    ]
    assert cases[0].find("failure").get("message") == "NVIDIA driver not loaded"
    assert "#x1B" in cases[2].find("system-out").text
    assert xml_safe("a\x00b") == "a#x00b"


def test_junit_names_stay_unique_for_repeated_checks():
    report = Report(
        findings=tuple(Finding("gpu.pcie", Status.PASS, f"GPU {i}", layer="gpu") for i in range(3))
    )
    names = [c.get("name") for c in ET.fromstring(render_junit(report).split("\n", 1)[1]).iter("testcase")]
    assert names == ["gpu.pcie", "gpu.pcie[2]", "gpu.pcie[3]"]


def test_console_groups_by_layer_and_prints_summary():
    out = io.StringIO()
    console = Console(file=out, width=140, color_system=None)
    render_console(_report(), console)
    text = out.getvalue()
    assert (
        text.index("NVIDIA driver")
        < text.index("GPUs")
        < text.index("CUDA toolkit")
        < text.index("Environment")
    )
    assert "sudo apt install nvidia-driver-550" in text
    assert summary_line(_report()) == "1 passed, 1 warned, 1 failed, 1 skipped, 1 errors in 0.50 s"


def test_console_verbose_shows_evidence():
    ev = Evidence()
    ev.add(
        [
            CommandRun(
                argv=("nvidia-smi",),
                returncode=9,
                stdout="NVIDIA-SMI has failed because it couldn't communicate",
            )
        ]
    )
    shown = {}
    for level in (1, 2):
        out = io.StringIO()
        render_console(_report(), Console(file=out, width=160, color_system=None), verbose=level, evidence=ev)
        shown[level] = out.getvalue()
    assert "cmd:nvidia-smi" in shown[2] and "couldn't communicate" in shown[2]
    assert "cmd:nvidia-smi" not in shown[1] and "torch.import: torch is not installed" in shown[1]


def test_every_status_has_a_label_style_and_severity():
    from gpucheck.report.theme import THEME, status_style

    for status in Status:
        assert STATUS_LABEL[status] and status_style(status) in THEME.styles
    # the documented order (finding.py, README): fail > error > warn > skip > pass
    ordered = sorted(Status, key=lambda s: s.severity, reverse=True)
    assert [s.value for s in ordered] == ["fail", "error", "warn", "skip", "pass"]
