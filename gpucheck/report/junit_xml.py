"""JUnit XML: one ``<testcase>`` per finding, for CI dashboards (GitLab, Jenkins, GitHub test reporters).

``fail`` → ``<failure>``, ``error`` → ``<error>``, ``skip`` → ``<skipped>``; ``warn`` passes but its text goes
to ``<system-out>`` so it is visible. Control characters that XML 1.0 forbids are escaped as ``#x..``
(pytest's ``bin_xml_escape`` approach), so verbatim probe output never produces an invalid file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from gpucheck.diagnose.finding import Report, Status

_ILLEGAL_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Replace characters XML 1.0 cannot carry with a visible ``#xNN`` escape."""
    return _ILLEGAL_XML.sub(lambda m: f"#x{ord(m.group()):02X}", text)


def render_junit(report: Report, *, suite_name: str = "gpucheck.doctor") -> str:
    """The report as a JUnit XML document (one testsuite)."""
    counts = Counter(f.status for f in report.findings)
    duration = report.meta.get("duration_s", 0.0)
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(report.findings)),
        failures=str(counts[Status.FAIL]),
        errors=str(counts[Status.ERROR]),
        skipped=str(counts[Status.SKIP]),
        time=f"{duration if isinstance(duration, (int, float)) else 0.0:.3f}",
        hostname=xml_safe(str(report.meta.get("hostname", ""))),
    )
    seen: Counter[str] = Counter()
    for finding in report.findings:
        seen[finding.check] += 1
        name = finding.check if seen[finding.check] == 1 else f"{finding.check}[{seen[finding.check]}]"
        case = ET.SubElement(
            suite, "testcase", classname=f"gpucheck.{finding.layer}", name=name, time="0.000"
        )
        text = xml_safe(finding.summary + (f"\nFix: {finding.remediation}" if finding.remediation else ""))
        if finding.status is Status.FAIL:
            ET.SubElement(case, "failure", message=xml_safe(finding.summary)).text = text
        elif finding.status is Status.ERROR:
            ET.SubElement(case, "error", message=xml_safe(finding.summary)).text = text
        elif finding.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=xml_safe(finding.summary))
        else:
            ET.SubElement(case, "system-out").text = xml_safe(f"[{finding.status.value}] {text}")
    root = ET.Element("testsuites", name="gpucheck")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
