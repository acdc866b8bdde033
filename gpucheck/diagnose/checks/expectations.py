"""Checks: the machine matches what its CI contract expects (``--expect-*`` flags or ``--config`` file).

Each expectation is a finding of its own, passing or failing with the measured value beside the expected
one; ``data`` carries both (``expected``, ``measured``) for CI annotations and fleet reports. Expectations
come from ``facts.options["expectations"]`` (an ``Expectations``); a check whose expectation was not given
returns no finding (the checks are registered ``optional``), and ``gpucheck doctor`` does not even select it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gpucheck.ci.config import Expectations, VersionSpec
from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.parse.framework_workers import WorkerReport, tf_worker, torch_worker
from gpucheck.diagnose.registry import check

SYSTEM_NEEDS = ("nvml", "nvidia_smi", "procfs")
SYSTEM_EVIDENCE = ("nvml", "cmd:nvidia-smi", "file:/proc/driver/nvidia/version")
MEM_TOLERANCE = 0.03
"""Share of memory the driver may keep for itself: an H100 80GB reports 81559 MiB (79.6 GiB), an RTX 4090
24564 MiB; without this slack ``--expect-mem-gib 80`` would fail on every 80 GB card."""
OPTION = {
    "gpus": "--expect-gpus",
    "gpu_name": "--expect-gpu-name",
    "driver": "--expect-driver",
    "cuda": "--expect-cuda",
    "framework": "--expect-framework",
    "mem_gib": "--expect-mem-gib",
}
"""Expectation → the flag that sets it (named in remediations)."""
CHECK_FOR = {
    "gpus": "expect.gpus",
    "gpu_name": "expect.gpu_name",
    "driver": "expect.driver",
    "cuda": "expect.cuda",
    "mem_gib": "expect.mem_gib",
}
"""Expectation field → the check that evaluates it (frameworks: ``expect.<framework>``)."""


def expectations_of(facts: Facts) -> Expectations:
    """The expectations of this run (none when the option is absent)."""
    value = facts.options.get("expectations")
    return value if isinstance(value, Expectations) else Expectations()


def unused_checks(expectations: Expectations) -> tuple[str, ...]:
    """Ids of the expectation checks with nothing to check, so doctor collects nothing for them."""
    unused = [cid for name, cid in CHECK_FOR.items() if getattr(expectations, name) is None]
    return (*unused, *(f"expect.{fw}" for fw in ("torch", "tensorflow") if fw not in expectations.frameworks))


def _verdict(ok: bool, summary: str, remediation: str, data: dict, evidence: tuple[str, ...]) -> Finding:
    if ok:
        return passed(summary, evidence=evidence, data=data)
    return failed(summary, remediation, evidence=evidence, data=data)


def _not_this_machine(flag: str, value: object) -> str:
    return (
        "This job ran on a machine outside the contract: fix the node (or route the job with the runner "
        f"labels / node selector), or change the contract if it is wrong (`{flag} {value}` or --config)."
    )


@check("expect.gpus", title="the expected number of GPUs is visible", needs=SYSTEM_NEEDS, optional=True)
def check_gpus(facts: Facts) -> Iterator[Finding]:
    """Fail when the driver reports a different number of GPUs than ``--expect-gpus``."""
    expected = expectations_of(facts).gpus
    if expected is None:
        return
    gpus = facts.of(gpu_inventory)
    data = {"expected": expected, "measured": len(gpus), "names": [g.name for g in gpus]}
    yield _verdict(
        len(gpus) == expected,
        f"{len(gpus)} GPU(s) visible, expected {expected}",
        "Compare `nvidia-smi -L` with the node's hardware; a GPU missing from it has fallen off the bus "
        "(`sudo dmesg | grep -i xid`) or is hidden by CUDA_VISIBLE_DEVICES / the container's GPU request. "
        + _not_this_machine(OPTION["gpus"], expected),
        data,
        SYSTEM_EVIDENCE,
    )


@check("expect.gpu_name", title="every GPU is the expected model", needs=SYSTEM_NEEDS, optional=True)
def check_gpu_name(facts: Facts) -> Iterator[Finding]:
    """Fail when a GPU's name does not match ``--expect-gpu-name`` (a case-insensitive regular expression)."""
    pattern = expectations_of(facts).gpu_name
    if pattern is None:
        return
    names = [g.name for g in facts.of(gpu_inventory)]
    wrong = [n for n in names if not re.search(pattern, n, re.IGNORECASE)]
    data = {"expected": pattern, "measured": names, "mismatched": wrong}
    measured = ", ".join(sorted(set(names))) or "no GPU"
    yield _verdict(
        bool(names) and not wrong,
        f"GPU model(s): {measured}; expected names matching /{pattern}/",
        _not_this_machine(OPTION["gpu_name"], repr(pattern)),
        data,
        SYSTEM_EVIDENCE,
    )


def _version_finding(what: str, measured: str | None, spec: VersionSpec, flag: str, fix: str) -> Finding:
    data = {"expected": spec.text, "measured": measured}
    if measured is None:
        return failed(
            f"no {what} version could be read (no NVIDIA driver answered); expected {spec.text}",
            "Install or load the NVIDIA driver first (see driver.loaded).",
            evidence=SYSTEM_EVIDENCE,
            data=data,
        )
    ok = spec.admits(measured)
    shown = f"{what} {measured}" + (" (not a version number)" if ok is None else "")
    remediation = fix + " " + _not_this_machine(flag, repr(spec.text))
    return _verdict(bool(ok), f"{shown}, expected {spec.text}", remediation, data, SYSTEM_EVIDENCE)


@check("expect.driver", title="the driver version is the expected one", needs=SYSTEM_NEEDS, optional=True)
def check_driver(facts: Facts) -> Iterator[Finding]:
    """Fail when the driver version (``550.54.14``) does not satisfy ``--expect-driver``."""
    spec = expectations_of(facts).driver
    if spec is None:
        return
    branches = advice.list_driver_branches(facts.of(detect_host))
    fix = f"Install a driver admitted by {spec.text} ({branches} lists the branches)."
    yield _version_finding("driver", facts.of(driver_info).version, spec, OPTION["driver"], fix)


@check("expect.cuda", title="the driver's CUDA version is as expected", needs=SYSTEM_NEEDS, optional=True)
def check_cuda(facts: Facts) -> Iterator[Finding]:
    """Fail when the CUDA version the driver supports (nvidia-smi "CUDA Version") misses ``--expect-cuda``."""
    spec = expectations_of(facts).cuda
    if spec is None:
        return
    fix = "The driver decides the newest CUDA a node runs: install a driver branch that supports it."
    yield _version_finding("driver CUDA", facts.of(driver_info).cuda_version, spec, OPTION["cuda"], fix)


@check("expect.mem_gib", title="every GPU has the expected memory", needs=SYSTEM_NEEDS, optional=True)
def check_mem(facts: Facts) -> Iterator[Finding]:
    """Fail when a GPU has less memory than ``--expect-mem-gib`` (minus the 3 % the driver reserves)."""
    expected = expectations_of(facts).mem_gib
    if expected is None:
        return
    gpus = facts.of(gpu_inventory)
    sizes = {g.index: round(g.memory_total_mib / 1024, 1) for g in gpus if g.memory_total_mib is not None}
    short = [i for i, gib in sizes.items() if gib < expected * (1 - MEM_TOLERANCE)]
    data = {"expected": expected, "measured": sizes, "short": short}
    listing = ", ".join(f"GPU {i}: {gib:g} GiB" for i, gib in sizes.items()) or "no GPU memory reading"
    yield _verdict(
        bool(sizes) and len(sizes) == len(gpus) and not short,
        f"{listing}; expected ≥ {expected:g} GiB per GPU",
        _not_this_machine(OPTION["mem_gib"], f"{expected:g}"),
        data,
        SYSTEM_EVIDENCE,
    )


def _framework_gpus(report: WorkerReport) -> int:
    """How many GPUs the framework itself saw (0 when it did not import or saw none)."""
    if report.state != "ok":
        return 0
    if report.framework == "torch":
        return len(report.get("devices", "devices") or []) if report.get("devices", "available") else 0
    return sum(1 for d in report.get("physical", "devices") or [] if d.get("device_type") == "GPU")


def _framework_finding(facts: Facts, report: WorkerReport) -> Iterator[Finding]:
    name = report.framework
    if name not in expectations_of(facts).frameworks:
        return
    count = _framework_gpus(report)
    why = (
        f" ({report.state}: {report.detail})"
        if report.state != "ok" and report.detail
        else (f" ({report.state})" if report.state != "ok" else "")
    )
    yield _verdict(
        count >= 1,
        f"{name} sees {count} GPU(s){why}; expected at least 1",
        f"See the {name}.* findings above for why; " + _not_this_machine(OPTION["framework"], name),
        {"expected": ">=1 GPU", "measured": count, "state": report.state},
        report.evidence,
    )


@check("expect.torch", title="PyTorch sees a GPU, as expected", needs=("torch_worker",), optional=True)
def check_torch(facts: Facts) -> Iterator[Finding]:
    """With ``--expect-framework torch``, fail unless torch imports and ``torch.cuda`` lists a device."""
    yield from _framework_finding(facts, facts.of(torch_worker))


@check("expect.tensorflow", title="TensorFlow sees a GPU, as expected", needs=("tf_worker",), optional=True)
def check_tensorflow(facts: Facts) -> Iterator[Finding]:
    """With ``--expect-framework tensorflow``, fail unless TensorFlow lists a physical GPU."""
    yield from _framework_finding(facts, facts.of(tf_worker))
