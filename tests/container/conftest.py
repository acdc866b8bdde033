"""Factories for the container layer: a toolkit in fake bin + sysroot, and a doctor run over them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gpucheck.collect.evidence import Evidence
from gpucheck.collect.registry import CollectContext, collect
from gpucheck.collect.sysroot import Sysroot
from gpucheck.diagnose.registry import needed_collectors, select_checks
from gpucheck.pipeline import diagnose
from tests.conftest import FIXTURES, FakeBin, SysrootTree

CONTAINER = FIXTURES / "container"
MISSING_SOCKET = "unix:///nonexistent/gpucheck-test/docker.sock"


def fixture_text(*parts: str) -> str:
    return CONTAINER.joinpath(*parts).read_text()


def install_toolkit(fake: FakeBin, root: SysrootTree, *, info: tuple[str, str, int] | None = None) -> None:
    """The toolkit's three commands replaying recorded output, and its binaries in the sysroot's /usr/bin."""
    fake.add("nvidia-ctk", fixture_text("toolkit", "nvidia-ctk-version.txt"))
    runtime_version = fixture_text("toolkit", "nvidia-container-runtime-version-1.17.8.txt")
    fake.add("nvidia-container-runtime", runtime_version)
    info = info or (fixture_text("toolkit", "nvidia-container-cli-info.txt"), "", 0)
    fake.add(
        "nvidia-container-cli",
        by_args={
            "--version": (fixture_text("toolkit", "nvidia-container-cli-version.txt"), "", 0),
            "info": info,
        },
    )
    for name in (
        "nvidia-ctk",
        "nvidia-container-runtime",
        "nvidia-container-cli",
        "nvidia-container-runtime-hook",
    ):
        root.write(f"/usr/bin/{name}", "#!/bin/sh\n", mode=0o755)


def load_driver(root: SysrootTree) -> None:
    root.write("/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.144.03\n")
    root.write("/dev/nvidiactl", "")


def container_evidence(
    root: SysrootTree, env: Mapping[str, str], options: Mapping[str, Any] | None = None
) -> Evidence:
    """Run the container layer's real collectors against a sysroot and environment."""
    checks = select_checks(["container"])
    ctx = CollectContext(sysroot=Sysroot(str(root.root)), env=dict(env), options=dict(options or {}))
    return collect(ctx, needed_collectors(checks))


def findings(evidence: Evidence) -> dict[str, list]:
    """Diagnose the container layer over the evidence; findings grouped by check id."""
    report = diagnose(evidence, select_checks(["container"]))
    grouped: dict[str, list] = {}
    for f in report.findings:
        grouped.setdefault(f.check, []).append(f)
    return grouped


@pytest.fixture
def gpu_host(fake_bin: FakeBin, sysroot: SysrootTree) -> tuple[FakeBin, SysrootTree]:
    """A host with an NVIDIA driver loaded and the container toolkit installed."""
    load_driver(sysroot)
    install_toolkit(fake_bin, sysroot)
    return fake_bin, sysroot
