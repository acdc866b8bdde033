"""Framework log lines → typed events: what TensorFlow and PyTorch say when the GPU stack is broken.

The patterns are the frameworks' own messages, as recorded in real reports
(shared/reference/doctor-anchors.md, F07-F19, F39-F40), for example
TensorFlow's ``Could not load dynamic library 'libcudnn.so.8'; dlerror: ...``
and PyTorch's ``The NVIDIA driver on your system is too old (found version 11040)``. ``parse_log_events``
never raises: unknown lines are simply not events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One recognised framework log line."""

    kind: str
    """What happened: ``dlopen_failed``, ``cudnn_mismatch``, ``driver_too_old`` ... (see ``PATTERNS``)."""
    line: str
    """The log line, verbatim (stripped)."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """The values the pattern captured (library names, versions, capabilities)."""


PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "dlopen_failed",
        re.compile(
            r"Could not load dynamic library '(?P<library>[^']+)'; dlerror: "
            r"(?P<dlerror>.*?)(?:; LD_LIBRARY_PATH: .*)?$"
        ),
    ),
    ("gpu_libraries_missing", re.compile(r"Cannot dlopen some GPU libraries")),
    ("skipping_gpu_devices", re.compile(r"Skipping registering GPU devices")),
    ("no_cuda_driver", re.compile(r"Could not find cuda drivers on your machine")),
    ("cuinit_failed", re.compile(r"failed call to cuInit: (?P<code>[A-Z_]+)(?::\s*(?P<message>.*))?")),
    (
        "kernel_driver_not_running",
        re.compile(
            r"kernel driver does not appear to be running on this host(?: \([^)]*\))?: (?P<reason>.*)"
        ),
    ),
    (
        "cudnn_mismatch",
        re.compile(
            r"Loaded runtime CuDNN library: (?P<loaded>\d+(?:\.\d+)*) but source was compiled with: "
            r"(?P<compiled>\d+(?:\.\d+)*?)\.?(?:\s|$)"
        ),
    ),
    (
        "cudnn_mismatch",
        re.compile(
            r"cuDNN version incompatibility: PyTorch was compiled\s+against \((?P<compiled>[\d, ]+)\) "
            r"but found runtime version \((?P<loaded>[\d, ]+)\)"
        ),
    ),
    ("dnn_init_failed", re.compile(r"DNN library initialization failed")),
    (
        "driver_too_old",
        re.compile(r"The NVIDIA driver on your system is too old \(found version (?P<found>\d+)\)"),
    ),
    ("driver_insufficient", re.compile(r"CUDA driver version is insufficient for CUDA runtime version")),
    ("no_kernel_image", re.compile(r"no kernel image is available for execution on the device")),
    (
        "capability_unsupported",
        re.compile(
            r"(?P<name>\S.*?) with CUDA capability (?P<sm>sm_\d+\w?) "
            r"is not compatible with the current PyTorch"
        ),
    ),
    (
        "supported_capabilities",
        re.compile(r"The current PyTorch install supports CUDA capabilities (?P<archs>\w+(?: \w+)*)"),
    ),
    (
        "gpu_too_old",
        re.compile(
            r"Found GPU(?P<index>\d+) (?P<name>.+?) which is of (?:cuda|compute) capability (?:\(CC\) )?"
            r"(?P<capability>\d+\.\d+)"
        ),
    ),
    ("forward_compat_unsupported", re.compile(r"forward compatibility was attempted on non supported HW")),
    (
        "cuda_unknown_error",
        re.compile(r"CUDA unknown error - this may be due to an incorrectly set up environment"),
    ),
    ("torch_not_cuda", re.compile(r"Torch not compiled with CUDA enabled")),
    ("devices_busy", re.compile(r"all CUDA-capable devices are busy or unavailable")),
    (
        "mixed_precision_warning",
        re.compile(r"Mixed precision compatibility check \((?P<policy>\w+)\): WARNING"),
    ),
    (
        "too_late",
        re.compile(r"(?P<what>Physical|Virtual|Visible) devices cannot be modified after being initialized"),
    ),
)
"""(event kind, pattern) in the order they are tried; the first match of a line wins."""


def parse_log_events(text: str) -> tuple[LogEvent, ...]:
    """Every recognised event in a framework's stderr, in order (repeated identical lines once)."""
    events: list[LogEvent] = []
    seen: set[tuple[str, str]] = set()
    for raw in str(text or "").splitlines():
        line = raw.strip()
        for kind, pattern in PATTERNS:
            match = pattern.search(line)
            if match is None:
                continue
            fields = {k: v.strip() for k, v in match.groupdict().items() if v is not None}
            if (kind, line) not in seen:
                seen.add((kind, line))
                events.append(LogEvent(kind, line, fields))
            break
    return tuple(events)


def dlerror_library(event: LogEvent) -> str:
    """The library that is really missing: the one dlerror names, which may differ from the one requested.

    ``Could not load dynamic library 'libcusolver.so.11'; dlerror: libnvJitLink.so.12: cannot open ...``
    is missing ``libnvJitLink.so.12``.
    """
    dlerror = event.fields.get("dlerror", "")
    head = dlerror.split(":", 1)[0].strip()
    return head if ".so" in head or head.endswith(".dll") else event.fields.get("library", "")


def cuda_from_found_version(found: str) -> str | None:
    """PyTorch's ``found version 11040`` (the driver API integer) → ``11.4``."""
    if not found.isdigit() or int(found) < 1000:
        return None
    value = int(found)
    return f"{value // 1000}.{(value % 1000) // 10}"


def tuple_version(text: str) -> str:
    """``(9, 1, 0)`` or ``9, 1, 0`` → ``9.1.0``; other text unchanged."""
    parts = [p.strip() for p in text.strip("() ").split(",")]
    return ".".join(parts) if len(parts) > 1 and all(p.isdigit() for p in parts) else text.strip()


def events_of(events: tuple[LogEvent, ...], *kinds: str) -> tuple[LogEvent, ...]:
    """The events of the given kinds."""
    return tuple(e for e in events if e.kind in kinds)
