"""Readers for the live Docker daemon evidence: connection errors, ``docker info``, the smoke run's failures.

Command line equivalent: ``docker info --format '{{json .}}'``; ``docker run --gpus all <image> nvidia-smi``.
The error texts matched here are the ones recorded on real machines (shared/reference/docker.md A1/A4,
doctor-anchors.md F09, F27, F30, F31); ``docker info`` output is read by key, never compared as a whole
(dockerd 26 adds a ``status`` blob to every runtime).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gpucheck.collect.evidence import Evidence


class ConnectError(str, Enum):
    """Why the daemon could not be reached."""

    SDK_MISSING = "sdk_missing"
    SOCKET_MISSING = "socket_missing"
    PERMISSION_DENIED = "permission_denied"
    REFUSED = "refused"
    OTHER = "other"


def classify_connect_error(error: str) -> ConnectError:
    """Map the SDK's exception text to a reason (``FileNotFoundError(2, …)`` → the socket is missing)."""
    if "No module named 'docker'" in error or "No module named docker" in error:
        return ConnectError.SDK_MISSING
    if "FileNotFoundError" in error or "No such file or directory" in error:
        return ConnectError.SOCKET_MISSING
    if "PermissionError" in error or "Permission denied" in error:
        return ConnectError.PERMISSION_DENIED
    if "ConnectionRefusedError" in error or "Connection refused" in error:
        return ConnectError.REFUSED
    return ConnectError.OTHER


@dataclass(frozen=True, slots=True)
class LiveDaemon:
    """The daemon as the Docker SDK saw it."""

    collected: bool
    """False when the docker_daemon evidence is absent."""
    reachable: bool
    error: str | None
    error_kind: ConnectError | None
    docker_host: str | None
    """DOCKER_HOST from the probed environment (None: the default unix:///var/run/docker.sock)."""
    server_version: str | None
    runtimes: tuple[str, ...]
    """Runtime names from ``Runtimes`` (keys only)."""
    runtime_paths: dict[str, str | None]
    default_runtime: str | None
    cdi_spec_dirs: tuple[str, ...] | None
    """``CDISpecDirs``: None when the daemon does not report it (older than 25, or CDI disabled)."""
    rootless: bool
    cli_found: bool
    """Whether the ``docker`` CLI is on PATH."""
    dockerd_found: bool
    problems: tuple[str, ...] = ()
    """Keys of ``docker info`` whose value had the wrong JSON type (they were ignored)."""


def _typed(container: dict[str, Any], key: str, kind: type, what: str, problems: list[str]) -> Any:
    """``container[key]`` when it has the documented JSON type; None (and a problem noted) otherwise."""
    value = container.get(key)
    if value is None or isinstance(value, kind):
        return value
    problems.append(f"{key} is {type(value).__name__} {str(value)[:40]!r}, not {what}")
    return None


def _str_list(container: dict[str, Any], key: str, problems: list[str]) -> tuple[str, ...] | None:
    value = _typed(container, key, list, "an array", problems)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        problems.append(f"{key} holds a non-string entry: {str(value)[:60]}")
        return tuple(v for v in value if isinstance(v, str))
    return tuple(value)


def live_daemon(evidence: Evidence) -> LiveDaemon:
    """Build ``LiveDaemon`` from the ``docker_daemon`` collector's evidence.

    Every key is read with its documented type (``docker info`` is JSON from the Engine API); a value of
    another type (a ``Runtimes`` array, a numeric ``ServerVersion``) is dropped and listed in ``problems``,
    which ``container.daemon`` reports as an error, instead of being iterated letter by letter or crashing.
    """
    item = evidence.value("docker_daemon")
    problems: list[str] = []
    data: dict[str, Any] = item.data if item is not None and isinstance(item.data, dict) else {}
    if item is not None and item.data is not None and not isinstance(item.data, dict):
        problems.append(f"the docker_daemon evidence is {type(item.data).__name__}, not an object")
    info = _typed(data, "info", dict, "an object", problems) or {}
    runtimes = _typed(info, "Runtimes", dict, "an object (runtime name → spec)", problems) or {}
    dirs = _str_list(info, "CDISpecDirs", problems)
    security = _str_list(info, "SecurityOptions", problems) or ()
    version = _typed(data, "version", dict, "an object", problems) or {}
    server_version = _typed(info, "ServerVersion", str, "a string", problems) or _typed(
        version, "Version", str, "a string", problems
    )
    docker_host = _typed(data, "docker_host", str, "a string", problems)
    default_runtime = _typed(info, "DefaultRuntime", str, "a string", problems)
    error = item.error if item is not None else None
    cli, dockerd = evidence.command("docker", "--version"), evidence.command("dockerd", "--version")
    return LiveDaemon(
        collected=item is not None,
        reachable=bool(data.get("reachable")),
        error=error,
        error_kind=ConnectError.SDK_MISSING
        if data.get("sdk_installed") is False
        else classify_connect_error(error)
        if error
        else None,
        docker_host=docker_host,
        server_version=server_version,
        runtimes=tuple(str(k) for k in runtimes),
        runtime_paths={
            str(k): v.get("path") if isinstance(v, dict) and isinstance(v.get("path"), str) else None
            for k, v in runtimes.items()
        },
        default_runtime=default_runtime,
        cdi_spec_dirs=dirs,
        rootless=any("rootless" in s for s in security),
        cli_found=cli is not None and not cli.not_found,
        dockerd_found=dockerd is not None and not dockerd.not_found,
        problems=tuple(problems),
    )


class SmokeFailure(str, Enum):
    """The known ways ``docker run --gpus all <cuda image> nvidia-smi`` fails."""

    NO_GPU_DEVICE_DRIVER = "no_gpu_device_driver"
    UNKNOWN_RUNTIME = "unknown_runtime"
    RUNTIME_NOT_FOUND = "runtime_not_found"
    CUDA_REQUIREMENT = "cuda_requirement"
    NVML_NOT_LOADABLE = "nvml_not_loadable"
    DRIVER_TIMEOUT = "driver_timeout"
    CDI_UNRESOLVABLE = "cdi_unresolvable"
    IMAGE_UNAVAILABLE = "image_unavailable"
    NVIDIA_SMI_FAILED = "nvidia_smi_failed"
    OTHER = "other"


_SMOKE_PATTERNS: tuple[tuple[SmokeFailure, re.Pattern[str]], ...] = (
    (
        SmokeFailure.NO_GPU_DEVICE_DRIVER,
        re.compile(r'could not select device driver "" with capabilities: \[\[gpu\]\]'),
    ),
    (
        SmokeFailure.UNKNOWN_RUNTIME,
        re.compile(r"unknown or invalid runtime name: ([^\s\")]+)|Unknown runtime specified ([^\s\")]+)"),
    ),
    (SmokeFailure.RUNTIME_NOT_FOUND, re.compile(r'exec: "([^"]+)": executable file not found in \$PATH')),
    (
        SmokeFailure.CUDA_REQUIREMENT,
        re.compile(r"requirement error: unsatisfied condition: cuda\s*>=\s*(\d+(?:\.\d+)*)"),
    ),
    (SmokeFailure.NVML_NOT_LOADABLE, re.compile(r"load library failed: (libnvidia-ml\.so\.1)")),
    (SmokeFailure.DRIVER_TIMEOUT, re.compile(r"driver (?:rpc )?error: timed out")),
    (SmokeFailure.CDI_UNRESOLVABLE, re.compile(r"unresolvable CDI devices ([^\s\"]+)")),
)


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """What the smoke run did."""

    requested: bool
    image: str
    ok: bool
    failure: SmokeFailure | None
    detail: str
    """The first match group of the known error (runtime name, ``cuda>=`` version, device), else ''."""
    message: str
    """The error text or output the verdict rests on."""
    stdout: str
    leftovers: tuple[str, ...]
    """Cleanup errors: containers the run created but could not remove."""


def classify_smoke_error(text: str) -> tuple[SmokeFailure, str]:
    """The known failure a daemon/toolkit message shows, with its detail; ``OTHER`` when none matches."""
    for kind, pattern in _SMOKE_PATTERNS:
        match = pattern.search(text)
        if match:
            return kind, next((g for g in match.groups() if g), "")
    return SmokeFailure.OTHER, ""


def smoke_result(evidence: Evidence) -> SmokeResult:
    """Build ``SmokeResult`` from the ``container_smoke`` evidence."""
    item = evidence.value("container_smoke")
    data: dict[str, Any] = item.data if item is not None and isinstance(item.data, dict) else {}
    error = item.error if item is not None else None
    stdout, stderr = str(data.get("stdout") or ""), str(data.get("stderr") or "")
    leftovers = tuple((data.get("cleanup") or {}).get("errors") or ())
    base = {
        "requested": bool(data.get("requested")),
        "image": str(data.get("image") or ""),
        "stdout": stdout,
        "leftovers": leftovers,
    }
    if error is None and data.get("exit_code") == 0:
        return SmokeResult(ok=True, failure=None, detail="", message=stdout, **base)
    parts = (str(data.get("explanation") or ""), error or "", stderr, stdout)
    message = " ".join(p for p in parts if p).strip()
    kind, detail = classify_smoke_error(message)
    if kind is SmokeFailure.OTHER and data.get("stage") in ("image", "pull"):
        kind = SmokeFailure.IMAGE_UNAVAILABLE
    elif kind is SmokeFailure.OTHER and error is None:
        kind = SmokeFailure.NVIDIA_SMI_FAILED
    return SmokeResult(ok=False, failure=kind, detail=detail, message=message, **base)
