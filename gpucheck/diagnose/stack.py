"""The GPU stack as a chain of layers, and the rule that marks a finding ``caused_by`` a lower failure.

Layers, bottom-up: the GPU on the PCI bus → the kernel module → the device nodes → the userspace driver
(NVML, libcuda, nvidia-smi) → each GPU → the CUDA toolkit → the container runtime → the frameworks. A finding
that is not a pass and whose layer depends on a layer with a failure *follows from* that failure: its
``caused_by`` names the root findings (those that follow from nothing), so a report can lead with the root
causes and fold the consequences under them. The exit code does not depend on any of this.

Where a check lives in the report (``driver``, ``gpu``, ... in ``registry.LAYERS``) is a heading; where it
sits in the stack is ``STACK_OF``. A finding may override its check's stack layer with
``data["stack_layer"]`` (``driver.loaded`` failing because no GPU is on the PCI bus is a ``pci`` finding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from enum import IntEnum

from gpucheck.diagnose.finding import Finding, Status


class Layer(IntEnum):
    """The stack's layers in dependency order (a lower value is closer to the hardware)."""

    PCI = 0
    KERNEL = 1
    DEVICES = 2
    USERSPACE = 3
    GPU = 4
    TOOLKIT = 5
    CONTAINER = 6
    FRAMEWORK = 7
    EXPECT = 8
    """The user's expectations (``--expect-gpus``): they consume every layer and cause nothing."""


DEPENDS: dict[Layer, frozenset[Layer]] = {
    Layer.PCI: frozenset(),
    Layer.KERNEL: frozenset({Layer.PCI}),
    Layer.DEVICES: frozenset({Layer.KERNEL}),
    Layer.USERSPACE: frozenset({Layer.KERNEL, Layer.DEVICES}),
    Layer.GPU: frozenset({Layer.USERSPACE}),
    Layer.TOOLKIT: frozenset(),
    Layer.CONTAINER: frozenset({Layer.GPU}),
    Layer.FRAMEWORK: frozenset({Layer.GPU, Layer.TOOLKIT}),
    Layer.EXPECT: frozenset({Layer.GPU, Layer.FRAMEWORK}),
}
"""Direct dependencies; the rule uses their transitive closure. Building CUDA code needs no driver, so the
toolkit depends on nothing; checks that compare the toolkit with the driver say so in ``CHECK_DEPENDS``."""

STACK_OF: dict[str, Layer] = {
    "driver.pci_devices": Layer.PCI,
    "driver.loaded": Layer.KERNEL,
    "driver.kernel_module": Layer.KERNEL,
    "driver.module_flavour": Layer.KERNEL,
    "driver.kernel_log": Layer.KERNEL,
    "driver.device_nodes": Layer.DEVICES,
    "driver.nvidia_smi": Layer.USERSPACE,
    "driver.userspace": Layer.USERSPACE,
    "wsl.kernel": Layer.KERNEL,
    "wsl.windows_driver": Layer.USERSPACE,
    "wsl.linux_driver": Layer.USERSPACE,
    "environ.container": Layer.CONTAINER,
    "environ.nvidia_visible_devices": Layer.CONTAINER,
    "environ.cuda_visible_devices": Layer.FRAMEWORK,
    "environ.cuda_device_order": Layer.FRAMEWORK,
    "environ.compat_libs": Layer.USERSPACE,
    "environ.performance_variables": Layer.FRAMEWORK,
}
"""Check id → stack layer, where the check's report heading does not tell (see ``layer_of``)."""

_BY_HEADING: dict[str, Layer] = {
    "driver": Layer.KERNEL,
    "gpu": Layer.GPU,
    "toolkit": Layer.TOOLKIT,
    "compat": Layer.TOOLKIT,
    "wsl": Layer.USERSPACE,
    "environ": Layer.FRAMEWORK,
    "torch": Layer.FRAMEWORK,
    "tensorflow": Layer.FRAMEWORK,
    "framework": Layer.FRAMEWORK,
    "container": Layer.CONTAINER,
    "expect": Layer.EXPECT,
}

CHECK_DEPENDS: dict[str, tuple[Layer | str, ...]] = {
    # Facts about the installed package or the toolkit itself: true whatever the driver does.
    "torch.install": (),
    "tensorflow.install": (),
    "framework.cpu_build": (),
    "toolkit.nvcc": (),
    "toolkit.shadowed": (),
    "toolkit.cuda_home": (),
    "toolkit.cudnn": (),
    "environ.container": (),
    "environ.performance_variables": (),
    # Comparisons of a build with the driver.
    "compat.toolkit_driver": (Layer.USERSPACE,),
    "framework.cuda_driver": (Layer.USERSPACE,),
    "toolkit.runtime_library": (),
    # The container runtime's own pieces, and what a GPU container needs of them.
    "container.toolkit": (),
    "container.daemon": (),
    "container.daemon_json": (),
    "container.nvidia_runtime": ("container.daemon_json", "container.toolkit"),
    "container.daemon_restart": ("container.daemon", "container.daemon_json"),
    "container.cdi": ("container.toolkit",),
    "container.toolkit_config": ("container.toolkit",),
    "container.cli_info": (Layer.GPU, "container.toolkit"),
    "container.smoke": (
        Layer.GPU,
        "container.daemon",
        "container.toolkit",
        "container.nvidia_runtime",
        "container.cdi",
        "container.daemon_restart",
        "container.toolkit_config",
    ),
    # Checks in the same layer that read the answer of another.
    "driver.kernel_module": (Layer.PCI, "driver.loaded"),
    "driver.module_flavour": (Layer.PCI, "driver.loaded"),
    "driver.nvidia_smi": (Layer.KERNEL, Layer.DEVICES),
    "gpu.health": (Layer.USERSPACE, "gpu.present"),
    "gpu.pcie_link": (Layer.USERSPACE, "gpu.present"),
    "gpu.modes": (Layer.USERSPACE, "gpu.present"),
    "gpu.errors": (Layer.USERSPACE,),
}
"""Dependencies of one check instead of its layer's: layers (with everything below them) and check ids."""

PREREQUISITES: dict[str, tuple[str, ...]] = {
    "torch.": ("torch.install",),
    "tensorflow.": ("tensorflow.install",),
    "framework.": ("torch.install", "tensorflow.install"),
}
"""Check-id prefix → the checks that decide whether it applies at all: a skip whose prerequisites are all
skipped (the framework is not installed) is skipped for their reason, not because of a lower layer."""

BLOCKING_WARNINGS: frozenset[str] = frozenset({"driver.kernel_module", "driver.device_nodes"})
"""Checks whose ``warn`` already breaks the layers above (nvidia_uvm not loaded, a node the user cannot
open); every other check's ``warn`` is a risk, not a cause."""


def layer_of(finding: Finding) -> Layer:
    """The stack layer of a finding: its own override, else its check's, else its report heading's."""
    override = finding.data.get("stack_layer") if isinstance(finding.data, dict) else None
    if isinstance(override, str) and override.upper() in Layer.__members__:
        return Layer[override.upper()]
    if finding.check in STACK_OF:
        return STACK_OF[finding.check]
    return _BY_HEADING.get(finding.check.split(".", 1)[0], Layer.FRAMEWORK)


def _closure(layers: Iterable[Layer]) -> frozenset[Layer]:
    seen: set[Layer] = set()
    todo = list(layers)
    while todo:
        layer = todo.pop()
        if layer not in seen:
            seen.add(layer)
            todo.extend(DEPENDS[layer])
    return frozenset(seen)


def depends_on(finding: Finding) -> tuple[frozenset[Layer], frozenset[str]]:
    """The layers (transitively) and check ids a finding rests on."""
    declared: Sequence[Layer | str] | None = CHECK_DEPENDS.get(finding.check)
    if declared is None:
        declared = tuple(DEPENDS[layer_of(finding)])
    layers = _closure(d for d in declared if isinstance(d, Layer))
    checks = frozenset(d for d in declared if isinstance(d, str))
    return layers, checks


def is_failure(finding: Finding) -> bool:
    """Whether a finding breaks what rests on it (a fail or error, or a blocking warning)."""
    if finding.status in (Status.FAIL, Status.ERROR):
        return True
    return finding.status is Status.WARN and finding.check in BLOCKING_WARNINGS


def assign_causes(findings: Sequence[Finding]) -> list[Finding]:
    """The findings, in the same order, each non-pass one with ``caused_by`` naming its root causes.

    A finding follows from every failure in a layer (or check) it depends on (a warning only from a fail or
    an error); it names the roots of those
    failures — the failures that follow from nothing — so consequences never chain. A ``caused_by`` a check
    set itself is kept.
    """
    failures = [f for f in findings if is_failure(f)]
    memo: dict[int, tuple[str, ...]] = {}

    def causes(finding: Finding, visiting: frozenset[int]) -> tuple[str, ...]:
        key = id(finding)
        if key in memo:
            return memo[key]
        if finding.caused_by:
            memo[key] = finding.caused_by
            return finding.caused_by
        if finding.status is Status.SKIP:
            prerequisites = _prerequisites(finding, findings)
            if prerequisites and all(p.status is Status.SKIP for p in prerequisites):
                inherited = {c: None for p in prerequisites for c in causes(p, visiting | {key})}
                memo[key] = tuple(inherited)
                return memo[key]
        layers, checks = depends_on(finding)
        roots: dict[str, None] = {}
        for lower in failures:
            if lower is finding or id(lower) in visiting or lower.check == finding.check:
                continue
            if lower.status is Status.WARN and finding.status is Status.WARN:
                continue  # a blocking warning breaks what fails above it, not another risk
            if layer_of(lower) in layers or lower.check in checks:
                below = causes(lower, visiting | {key})
                roots.update(dict.fromkeys(below or (lower.check,)))
        memo[key] = tuple(roots)
        return memo[key]

    out = []
    for finding in findings:
        if finding.status is Status.PASS:
            out.append(finding)
            continue
        found = causes(finding, frozenset())
        out.append(dataclasses.replace(finding, caused_by=found) if found != finding.caused_by else finding)
    return out


def _prerequisites(finding: Finding, findings: Sequence[Finding]) -> list[Finding]:
    """The findings of the checks that decide whether ``finding``'s check applies (see PREREQUISITES)."""
    wanted = next((ids for prefix, ids in PREREQUISITES.items() if finding.check.startswith(prefix)), ())
    return [f for f in findings if f.check in wanted and f.check != finding.check]


def root_causes(findings: Sequence[Finding]) -> list[Finding]:
    """The failures that follow from nothing else, lowest layer first (what a report should lead with)."""
    roots = [f for f in findings if is_failure(f) and not f.caused_by]
    return sorted(roots, key=lambda f: layer_of(f))


def consequences(findings: Sequence[Finding], root: Finding) -> list[Finding]:
    """The findings that follow from ``root``, in report order."""
    return [f for f in findings if root.check in f.caused_by]
