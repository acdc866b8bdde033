"""Run ``gpucheck doctor --json`` inside an image and read its report.

The container gets the host's GPUs (a ``--gpus all`` device request) when the host has them, and no network:
doctor only inspects. Every container this module creates is removed, including one that failed to start
(``remove=True`` would leave those behind; shared/reference/docker.md A4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DOCTOR_ARGV = ("gpucheck", "doctor", "--json")


class VerifyError(RuntimeError):
    """The image could not run doctor, or doctor's output was not its JSON report."""


@dataclass(frozen=True)
class VerifyResult:
    """What doctor reported inside the image."""

    image: str
    exit_code: int
    gpus: bool
    status: str
    counts: dict[str, int]
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Findings that did not pass or skip (warn, fail, error)."""
        return [f for f in self.findings if f.get("status") not in {"pass", "skip"}]


def parse_report(image: str, exit_code: int, gpus: bool, stdout: bytes) -> VerifyResult:
    """Read doctor's JSON report from the container's standard output.

    Raises:
        VerifyError: the output is not a doctor JSON report (quoting its start).
    """
    text = stdout.decode("utf-8", "replace")
    try:
        report = json.loads(text)
        return VerifyResult(
            image=image,
            exit_code=exit_code,
            gpus=gpus,
            status=str(report["status"]),
            counts={str(k): int(v) for k, v in report["counts"].items()},
            findings=[_finding(f) for f in report["findings"]],
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise VerifyError(
            f"`{' '.join(DOCTOR_ARGV)}` in {image} exited {exit_code} without a JSON report; "
            f"it printed: {text.strip()[:300]!r}"
        ) from None


def _finding(raw: Any) -> dict[str, Any]:
    """One finding of the image's report with its shown fields as text (the image is not trusted)."""
    if not isinstance(raw, dict):
        raise TypeError("a finding is not an object")
    shown = {k: str(raw[k]) for k in ("status", "check", "summary", "remediation") if raw.get(k) is not None}
    return {**raw, **shown}


def verify_image(client: object, image: str, *, gpus: bool, timeout_s: float = 300) -> VerifyResult:
    """Run doctor in ``image`` and return its report.

    Raises:
        VerifyError: the image is missing, the container could not start (the engine's message), or
            doctor did not print its report.
    """
    import docker.errors
    import docker.types

    requests = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpus else None
    container = None
    try:
        container = client.containers.create(
            image, list(DOCTOR_ARGV), network_mode="none", device_requests=requests, detach=True
        )
        container.start()
        exit_code = int(container.wait(timeout=timeout_s)["StatusCode"])
        stdout = container.logs(stdout=True, stderr=False)
    except docker.errors.ImageNotFound:
        raise VerifyError(f"no image {image} in the engine: build or pull it first") from None
    except docker.errors.APIError as exc:
        raise VerifyError(f"the engine could not run {image}: {exc.explanation or exc}") from None
    finally:
        if container is not None:
            container.remove(force=True)
    return parse_report(image, exit_code, gpus, stdout)
