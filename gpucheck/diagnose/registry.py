"""The check contract, the registry and the runner.

A check is a pure function ``(facts: Facts) -> Finding | Iterable[Finding]`` registered with
``@check("layer.topic", title=..., needs=(collector names...))`` in a module listed in ``CHECK_MODULES``.
It returns findings built with ``passed / warned / failed / skipped / errored`` from ``finding.py``; the
registry fills in the id, title and layer. Rules:

- ``warn`` and ``fail`` carry a remediation: the exact command, edit or download, naming versions and paths.
- ``skip`` says why the check does not apply (no GPU, framework not installed).
- a check never prints, never touches the machine and never raises on purpose. If it raises anyway, the
  runner turns that into an ``error`` finding with the traceback as evidence, and the other checks still run.
- a needed collector that crashed or timed out makes the check an ``error`` quoting why; one that did not run
  makes it a ``skip``: "tensorflow not probed (--skip tensorflow)" when ``--skip`` removed the layer whose
  probe it is (``collector_layers``: a skipped layer starts none of its probes), else "not collected" (a
  snapshot taken without it).

Adding a check is one decorated function in the right ``checks/<layer>.py`` plus a test.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, skipped

CHECK_MODULES: tuple[str, ...] = (
    "gpucheck.diagnose.checks.pci",
    "gpucheck.diagnose.checks.driver",
    "gpucheck.diagnose.checks.kernel",
    "gpucheck.diagnose.checks.devices",
    "gpucheck.diagnose.checks.gpu",
    "gpucheck.diagnose.checks.consistency",
    "gpucheck.diagnose.checks.toolkit",
    "gpucheck.diagnose.checks.compat",
    "gpucheck.diagnose.checks.wsl",
    "gpucheck.diagnose.checks.environ",
    "gpucheck.diagnose.checks.pytorch",
    "gpucheck.diagnose.checks.tensorflow",
    "gpucheck.diagnose.checks.frameworks",
    "gpucheck.diagnose.checks.container",
    "gpucheck.diagnose.checks.toolkit_config",
    "gpucheck.diagnose.checks.container_daemon",
    "gpucheck.diagnose.checks.slurm",
    "gpucheck.diagnose.checks.expectations",
)
"""Every module that registers checks, in report order."""

LAYERS: dict[str, str] = {
    "driver": "NVIDIA driver",
    "gpu": "GPUs",
    "toolkit": "CUDA toolkit",
    "compat": "Compatibility",
    "wsl": "WSL2",
    "environ": "Environment",
    "torch": "PyTorch",
    "tensorflow": "TensorFlow",
    "framework": "Frameworks vs. system",
    "container": "Containers",
    "slurm": "Slurm",
    "expect": "Expectations",
}
"""Layer id → heading, in report order."""

CheckFunc = Callable[[Facts], "Finding | Iterable[Finding] | None"]


class UnknownSelectionError(ValueError):
    """An ``--only``/``--skip`` pattern names no check and no layer."""


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check."""

    id: str
    title: str
    needs: tuple[str, ...]
    func: CheckFunc
    optional: bool = False
    """Whether returning no finding is fine (a check of an expectation the user did not give)."""

    @property
    def layer(self) -> str:
        """The layer: the id up to the first dot."""
        return self.id.split(".", 1)[0]


CHECKS: dict[str, Check] = {}


def check(
    check_id: str, *, title: str, needs: Sequence[str] = (), optional: bool = False
) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check under a stable ``layer.topic`` id (``optional``: it may return no finding)."""
    layer = check_id.split(".", 1)[0]
    if layer not in LAYERS or "." not in check_id:
        raise ValueError(f"check id {check_id!r} must be '<layer>.<topic>' with a layer from LAYERS")

    def register(func: CheckFunc) -> CheckFunc:
        if check_id in CHECKS and CHECKS[check_id].func is not func:
            raise ValueError(f"check {check_id!r} registered twice")
        CHECKS[check_id] = Check(id=check_id, title=title, needs=tuple(needs), func=func, optional=optional)
        return func

    return register


def load_checks() -> dict[str, Check]:
    """Import every check module and return the registry in report order."""
    for module in CHECK_MODULES:
        importlib.import_module(module)
    order = list(LAYERS)
    return dict(sorted(CHECKS.items(), key=lambda kv: order.index(kv[1].layer)))


def _matches(c: Check, pattern: str) -> bool:
    return c.layer == pattern or c.id == pattern or fnmatch.fnmatchcase(c.id, pattern)


def select_checks(only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Check]:
    """The checks chosen by ``--only`` and ``--skip`` (each a check id, a layer, or a glob: ``gpu.*``)."""
    checks = list(load_checks().values())
    for pattern in (*only, *skip):
        if not any(_matches(c, pattern) for c in checks):
            raise UnknownSelectionError(
                f"{pattern!r} matches no check or layer (layers: {', '.join(LAYERS)}; "
                "`gpucheck checks` lists the check ids)"
            )
    if only:
        checks = [c for c in checks if any(_matches(c, p) for p in only)]
    return [c for c in checks if not any(_matches(c, p) for p in skip)]


CONTEXT_COLLECTORS: tuple[str, ...] = ("env", "container_markers", "procfs", "wsl", "host")
"""Collected on every run whatever the checks: they tell where a fix will run (``diagnose/host.py``), which
every remediation needs, and they only read a few small files."""


def collector_layers() -> dict[str, str]:
    """Collector → the layer whose probe it is: the lowest layer with a check that needs it.

    ``tf_worker`` is TensorFlow's probe although ``framework.*`` and ``expect.tensorflow`` read it too; the
    context collectors belong to no layer.
    """
    owners: dict[str, str] = {}
    for c in load_checks().values():
        for name in c.needs:
            if name not in CONTEXT_COLLECTORS:
                owners.setdefault(name, c.layer)
    return owners


def unprobed_collectors(skip: Sequence[str] = ()) -> dict[str, str]:
    """Collectors not to run because ``--skip`` removed their whole layer → why, as a skip reason."""
    by_layer: dict[str, list[Check]] = {}
    for c in load_checks().values():
        by_layer.setdefault(c.layer, []).append(c)
    reasons: dict[str, str] = {}
    for layer, checks in by_layer.items():
        patterns = [p for p in skip if any(_matches(c, p) for c in checks)]
        if all(any(_matches(c, p) for p in skip) for c in checks):
            reasons[layer] = f"{layer} not probed (--skip {','.join(patterns)})"
    return {name: reasons[layer] for name, layer in collector_layers().items() if layer in reasons}


def needed_collectors(checks: Iterable[Check], unprobed: Iterable[str] = ()) -> list[str]:
    """The collectors the given checks need (less ``unprobed``), in first-needed order, then the context."""
    left_out = set(unprobed)
    needed = (name for c in checks for name in c.needs if name not in left_out)
    return list(dict.fromkeys([*needed, *CONTEXT_COLLECTORS]))


def run_check(c: Check, facts: Facts, unprobed: Mapping[str, str] | None = None) -> list[Finding]:
    """Run one check inside its own guard and return its findings with id, title and layer filled in.

    ``unprobed`` maps collectors left out on purpose (``--skip`` of their layer) to the reason a check that
    needs one is skipped with.
    """
    for name in c.needs:
        if unprobed and name in unprobed:
            return [_stamp(c, skipped(unprobed[name]))]
        failure = facts.evidence.collector_failure(name)
        if failure is not None:
            how = "timed out" if failure.timed_out else "crashed"
            return [
                _stamp(
                    c,
                    errored(
                        f"the {name} probe {how}: {failure.error}",
                        "Re-run with a longer --timeout; if it persists, report it with `gpucheck snapshot`.",
                    ),
                )
            ]
        if name not in facts.evidence.collectors:
            return [_stamp(c, skipped(f"evidence from the {name} probe was not collected"))]
    try:
        result = c.func(facts)
        findings = [result] if isinstance(result, Finding) else list(result or ())
        if not findings and not c.optional:
            raise ValueError("check returned no finding")
    except Exception as exc:  # noqa: BLE001 - a broken check is an error finding, never a crash
        return [
            _stamp(
                c,
                errored(
                    f"check crashed: {type(exc).__name__}: {exc}",
                    "This is a gpucheck bug; please report it with the output of `gpucheck snapshot`.",
                    data={"traceback": traceback.format_exc()},
                ),
            )
        ]
    return [_stamp(c, f) for f in findings]


def run_checks(
    checks: Iterable[Check], facts: Facts, unprobed: Mapping[str, str] | None = None
) -> list[Finding]:
    """Run every check; a crash in one never stops the others."""
    return [f for c in checks for f in run_check(c, facts, unprobed)]


def _stamp(c: Check, finding: Finding) -> Finding:
    return dataclasses.replace(finding, check=finding.check or c.id, title=c.title, layer=c.layer)
