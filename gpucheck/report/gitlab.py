r"""GitLab CI output: the report inside a collapsible job-log section, and a JUnit file for the MR widget.

Section markers follow https://docs.gitlab.com/ci/jobs/job_logs/#custom-collapsible-sections::

    \e[0Ksection_start:<unix time>:<name>[collapsed=true]\r\e[0K<header>
    ...
    \e[0Ksection_end:<unix time>:<name>\r\e[0K

The JUnit report (``gpucheck doctor --junit``, or ``gpucheck-junit.xml`` in ``$CI_PROJECT_DIR`` by default
under GitLab) is what ``artifacts:reports:junit`` uploads, so each finding shows as a test in the merge
request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from gpucheck.diagnose.finding import Report, Status

ESC = "\x1b"
DEFAULT_JUNIT = "gpucheck-junit.xml"
"""The JUnit file written under GitLab when ``--junit`` is not given (relative to ``$CI_PROJECT_DIR``)."""
_SECTION_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def section_start(name: str, header: str, *, timestamp: int, collapsed: bool) -> str:
    """The line that opens a section (collapsed in the log viewer when ``collapsed``)."""
    if not _SECTION_NAME.fullmatch(name):
        raise ValueError(f"GitLab section names allow letters, digits, '_', '.' and '-': {name!r}")
    option = "[collapsed=true]" if collapsed else ""
    return f"{ESC}[0Ksection_start:{timestamp}:{name}{option}\r{ESC}[0K{header}\n"


def section_end(name: str, *, timestamp: int) -> str:
    """The line that closes a section."""
    return f"{ESC}[0Ksection_end:{timestamp}:{name}\r{ESC}[0K\n"


def section_header(report: Report) -> str:
    """The one-line header shown while the section is collapsed."""
    bad = report.count(Status.FAIL) + report.count(Status.ERROR)
    verdict = f"{bad} problem(s)" if bad else "no problems"
    return f"gpucheck doctor: {verdict} ({len(report.findings)} findings)"


def wrap_section(body: str, report: Report, *, start: int, end: int, name: str = "gpucheck_doctor") -> str:
    """``body`` (the console report) inside a section, collapsed only when nothing failed."""
    collapsed = not report.failed()
    text = body if body.endswith("\n") else body + "\n"
    opening = section_start(name, section_header(report), timestamp=start, collapsed=collapsed)
    return opening + text + section_end(name, timestamp=end)


def default_junit_path(env: Mapping[str, str]) -> Path:
    """Where the JUnit report goes under GitLab when ``--junit`` is not given."""
    return Path(env.get("CI_PROJECT_DIR") or ".") / DEFAULT_JUNIT
