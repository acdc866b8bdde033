"""Parsers for the NVIDIA Container Toolkit's own output, and the toolkit fact built from the evidence.

Command line equivalents: ``nvidia-ctk --version`` (``NVIDIA Container Toolkit CLI version 1.17.8``),
``nvidia-container-runtime --version`` (``NVIDIA Container Runtime version 1.17.6``),
``nvidia-container-cli --version`` (``cli-version: 1.17.8``; ``version: 1.0.0`` before 1.1) and
``nvidia-container-cli info``. The runtime's output goes on with its runc's own ``runc version`` lines: the
first version printed is the toolkit's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpucheck.collect.evidence import CommandRun, Evidence
from gpucheck.diagnose.parse.errors import ParseError

_VERSION = re.compile(r"version:?\s+v?(\d+\.\d+(?:\.\d+)?(?:[-~+][\w.~+-]*)?)", re.IGNORECASE)
_INFO_FIELD = re.compile(r"^([A-Za-z][A-Za-z ]*?):\s+(.*?)\s*$")

TOOLKIT_COMMANDS: tuple[str, ...] = ("nvidia-ctk", "nvidia-container-runtime", "nvidia-container-cli")


def parse_tool_version(text: str) -> str:
    """The version from a toolkit binary's ``--version`` output; ``ParseError`` when none is printed."""
    match = _VERSION.search(text)
    if match is None:
        raise ParseError(f"no version in {text.strip()[:80]!r}")
    return match.group(1)


@dataclass(frozen=True, slots=True)
class CliDevice:
    """One GPU as ``nvidia-container-cli info`` lists it."""

    index: str
    model: str
    uuid: str
    bus_location: str
    architecture: str


@dataclass(frozen=True, slots=True)
class CliInfo:
    """What ``nvidia-container-cli info`` reports: the driver libnvidia-container sees, and its GPUs."""

    nvrm_version: str
    cuda_version: str
    devices: tuple[CliDevice, ...]


def parse_cli_info(text: str) -> CliInfo:
    """Parse ``nvidia-container-cli info``; ``ParseError`` when it has no ``NVRM version`` line."""
    head: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _INFO_FIELD.match(line.strip())
        if match is None:
            continue
        key, value = match.group(1), match.group(2)
        if key == "Device Index":
            blocks.append({})
        (blocks[-1] if blocks else head)[key] = value
    if "NVRM version" not in head:
        raise ParseError("no 'NVRM version:' line in nvidia-container-cli info output")
    devices = tuple(
        CliDevice(
            index=b.get("Device Index", ""),
            model=b.get("Model", ""),
            uuid=b.get("GPU UUID", ""),
            bus_location=b.get("Bus Location", ""),
            architecture=b.get("Architecture", ""),
        )
        for b in blocks
    )
    return CliInfo(head["NVRM version"], head.get("CUDA version", ""), devices)


@dataclass(frozen=True, slots=True)
class ToolkitFacts:
    """The toolkit as the container layer sees it."""

    versions: dict[str, str | None]
    """Binary name → version; None when the binary is missing or does not report one."""
    runs: dict[str, CommandRun | None]
    """Binary name → its ``--version`` run."""
    found: dict[str, str | None]
    """Binary name (incl. hooks) → host path, from the executable lookup."""
    info: CommandRun | None
    """The ``nvidia-container-cli info`` run."""
    driver_loaded: bool
    """Whether /proc/driver/nvidia/version, /dev/nvidiactl or /dev/dxg exists."""

    @property
    def installed(self) -> list[str]:
        """The toolkit binaries that were found."""
        return [n for n in TOOLKIT_COMMANDS if self.runs.get(n) is not None and not self.runs[n].not_found]


def toolkit_facts(evidence: Evidence) -> ToolkitFacts:
    """Build ``ToolkitFacts`` from the ``container_toolkit`` collector's evidence."""
    runs = {name: evidence.command(name, "--version") for name in TOOLKIT_COMMANDS}
    versions: dict[str, str | None] = {}
    for name, run in runs.items():
        try:
            versions[name] = parse_tool_version(run.stdout + "\n" + run.stderr) if run and run.ran else None
        except ParseError:
            versions[name] = None
    paths = evidence.value("container_toolkit_paths")
    found = paths.data.get("found", {}) if paths and isinstance(paths.data, dict) else {}
    markers = evidence.value("nvidia_driver_markers")
    driver = any(markers.data.values()) if markers and isinstance(markers.data, dict) else False
    return ToolkitFacts(
        versions=versions,
        runs=runs,
        found=dict(found),
        info=evidence.command("nvidia-container-cli", "info"),
        driver_loaded=driver,
    )
