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

NUM = (int, float)
STR_OR_NONE = (str, type(None))
NUM_OR_NONE = (int, float, type(None))
BOOL_OR_NONE = (bool, type(None))
_IMPORT = {"ok": bool, "not_installed": bool, "seconds": NUM, "path": STR_OR_NONE, "error": STR_OR_NONE}
SHAPES: dict[str, dict[str, Any]] = {
    "torch": {
        "import": _IMPORT,
        "build": {
            "version": STR_OR_NONE, "cuda": STR_OR_NONE, "arch_list": [str], "cudnn_version": NUM_OR_NONE,
        },
        "devices": {
            "available": bool,
            "device_count": NUM_OR_NONE,
            "cuda_visible_devices": STR_OR_NONE,
            "devices": [{"index": int, "name": str, "capability": str, "total_memory_bytes": NUM}],
        },
        "matmul": [
            {"error": str, "index": int, "n": int, "max_abs_diff": NUM, "max_abs_ref": NUM, "seconds": NUM}
        ],
        "amp": {
            "device_type": STR_OR_NONE,
            "supported": {"*": BOOL_OR_NONE},
            "steps": {"*": {"ok": bool, "error": str, "loss": NUM_OR_NONE, "loss_after": NUM_OR_NONE}},
        },
        "tf32": {"error": str},
        "memory_fraction": {
            "error": str, "fraction": NUM, "total_bytes": NUM, "within_limit_ok": bool,
            "beyond_limit_refused": bool,
        },
        "warnings": [str],
    },
    "tensorflow": {
        "import": _IMPORT,
        "build": {
            "version": STR_OR_NONE,
            "built_with_cuda": bool,
            "build_info": {"cuda_version": STR_OR_NONE, "cudnn_version": STR_OR_NONE},
        },
        "packages": {"*": STR_OR_NONE},
        "physical": {"devices": [{"name": str, "device_type": str}]},
        "configure": {"gpus": NUM_OR_NONE, "memory_growth": (dict, type(None))},
        "logical": {
            "devices": [{"name": str, "device_type": str}],
            "gpu_count": NUM, "cpu_count": NUM, "memory_growth_after_init": (dict, type(None)),
        },
        "mixed_precision": {"ok": bool, "error": str},
        "warnings": [str],
    },
}  # fmt: skip
"""The JSON types of the worker report's fields that checks read (absent keys are fine, extra keys too).

A dict is an object with those keys (``"*"``: every value), ``[spec]`` an array of ``spec``, a type or a
tuple of types a leaf. Every step may instead be ``{"error": ..., "traceback": ...}``, which fits a dict."""

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


def _type_names(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return " or ".join(dict.fromkeys(names.get(k, "null") for k in kinds))


def shape_problem(data: Any, shape: Any, path: str = "$") -> str | None:
    """Where ``data`` does not have ``shape`` (``"$.devices.devices[0].capability is 8.0, not string"``)."""
    stack = [(data, shape, path)]
    while stack:
        value, rule, at = stack.pop()
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                return f"{at} is {_type_names(type(value))}, not object"
            for key, sub in value.items():
                if key in rule or "*" in rule:
                    stack.append((sub, rule.get(key, rule.get("*")), f"{at}.{key}"))
        elif isinstance(rule, list):
            if not isinstance(value, list):
                return f"{at} is {_type_names(type(value))}, not array"
            stack.extend((v, rule[0], f"{at}[{i}]") for i, v in enumerate(value))
        else:
            kinds = rule if isinstance(rule, tuple) else (rule,)
            wrong_bool = isinstance(value, bool) and bool not in kinds
            if wrong_bool or not isinstance(value, kinds):
                return f"{at} is {str(value)[:40]!r}, not {_type_names(rule)}"
    return None


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
    problem = shape_problem(data, SHAPES.get(framework, {}))
    if problem is not None:
        # NOTE: a worker from another gpucheck version, or a hostile --python: never let checks index it
        detail = f"the worker's JSON report has a value of the wrong type: {problem}"
        events = parse_log_events(run.stderr)
        return WorkerReport(framework, "bad_output", events=events, detail=detail, **common)
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
