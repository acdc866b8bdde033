"""A framework worker's run (``CommandRun``) → ``WorkerReport``: its JSON, its log events, or how it died.

The workers (``gpucheck/collect/workers/{torch,tf}_probe.py``) print one JSON object as the last line of
stdout and write ``[gpucheck-worker] step <name>`` markers to stderr before each step, so a run that crashed
or hung still tells which step it was in. The builders ``torch_worker`` and ``tf_worker`` are facts builders
(use them through ``facts.of``).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpucheck.collect.evidence import CommandRun, Evidence
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.framework_logs import LogEvent, parse_log_events

MARKER = "[gpucheck-worker] step "
TAIL_LINES = 12
WORKER_FILES = {"torch": "torch_probe.py", "tensorflow": "tf_probe.py"}
COLLECTORS = {"torch": "torch_worker", "tensorflow": "tf_worker"}


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What one framework worker run tells."""

    framework: str
    """``torch`` or ``tensorflow``."""
    state: str
    """``ok``, ``not_installed``, ``import_failed``, ``crashed``, ``timed_out``, ``not_started``,
    ``bad_output`` or ``not_collected``."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """The worker's JSON object (empty when there is none)."""
    events: tuple[LogEvent, ...] = ()
    """Recognised framework log lines from stderr (and from warnings recorded in the JSON)."""
    evidence_key: str = ""
    python: str = ""
    """The interpreter that ran the worker."""
    last_step: str | None = None
    """The last step the worker announced (where it crashed or hung)."""
    stderr_tail: tuple[str, ...] = ()
    """The last stderr lines that are not progress markers."""
    detail: str = ""
    """One line on why the run did not produce a report (signal, timeout, exit status, import error)."""

    def get(self, *path: str | int) -> Any:
        """A nested value of the JSON (``report.get("build", "cuda")``), or None where any part is missing."""
        node: Any = self.data
        for part in path:
            if isinstance(node, Mapping) and isinstance(part, str):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
                node = node[part]
            else:
                return None
        return node

    def step_error(self, step: str) -> str | None:
        """The exception text a step recorded, or None when it succeeded or did not run."""
        error = self.get(step, "error")
        return error if isinstance(error, str) else None

    @property
    def evidence(self) -> tuple[str, ...]:
        """The evidence keys of this report (for findings)."""
        return (self.evidence_key,) if self.evidence_key else ()


def parse_worker_output(stdout: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of a worker's stdout."""
    lines = [line for line in str(stdout or "").splitlines() if line.strip()]
    if not lines:
        raise ParseError("the worker printed nothing on stdout")
    try:
        data = json.loads(lines[-1])
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"the worker's last stdout line is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("import"), dict):
        raise ParseError("the worker's JSON has no 'import' object")
    return data


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail_and_step(stderr: str) -> tuple[tuple[str, ...], str | None]:
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    steps = [line[len(MARKER) :].strip() for line in lines if line.startswith(MARKER)]
    rest = [line for line in lines if not line.startswith(MARKER)]
    return tuple(rest[-TAIL_LINES:]), (steps[-1] if steps else None)


def _failure(run: CommandRun, step: str | None) -> tuple[str, str]:
    """(state, detail) for a run that printed no usable JSON."""
    where = f" during step '{step}'" if step else ""
    if run.not_found or run.error:
        return "not_started", run.describe_failure()
    if run.timed_out:
        return "timed_out", f"the worker did not finish within {run.duration_s:.0f} s (hung{where})"
    if run.returncode is not None and run.returncode < 0:
        return "crashed", f"the worker was killed by {_signal_name(-run.returncode)}{where}"
    if run.returncode:
        return "crashed", f"the worker exited with status {run.returncode}{where}"
    return "bad_output", f"the worker exited normally but printed no JSON report{where}"


def worker_report(run: CommandRun | None, framework: str) -> WorkerReport:
    """Classify one worker run."""
    if run is None:
        return WorkerReport(framework, "not_collected", detail=f"the {framework} worker did not run")
    tail, step = _tail_and_step(run.stderr)
    common = {
        "evidence_key": run.key,
        "python": run.argv[0] if run.argv else "",
        "last_step": step,
        "stderr_tail": tail,
    }
    try:
        data = parse_worker_output(run.stdout)
    except ParseError as exc:
        state, detail = _failure(run, step)
        if state == "bad_output":
            detail = f"{detail}: {exc}"
        return WorkerReport(framework, state, events=parse_log_events(run.stderr), detail=detail, **common)
    warnings = data.get("warnings")
    warnings_text = "\n".join(w for w in warnings if isinstance(w, str)) if isinstance(warnings, list) else ""
    events = parse_log_events(run.stderr + "\n" + warnings_text)
    imported = data["import"]
    if imported.get("ok"):
        return WorkerReport(framework, "ok", data, events, **common)
    state = "not_installed" if imported.get("not_installed") else "import_failed"
    return WorkerReport(framework, state, data, events, detail=str(imported.get("error") or ""), **common)


def find_worker_run(evidence: Evidence, framework: str) -> CommandRun | None:
    """The collected run of a framework's worker (its argv[1] is the worker script)."""
    name = WORKER_FILES[framework]
    for item in evidence.with_prefix("cmd:"):
        if isinstance(item, CommandRun) and len(item.argv) > 1 and os.path.basename(item.argv[1]) == name:
            return item
    return None


def torch_worker(evidence: Evidence) -> WorkerReport:
    """Facts builder: the PyTorch worker's report."""
    return worker_report(find_worker_run(evidence, "torch"), "torch")


def tf_worker(evidence: Evidence) -> WorkerReport:
    """Facts builder: the TensorFlow worker's report."""
    return worker_report(find_worker_run(evidence, "tensorflow"), "tensorflow")
