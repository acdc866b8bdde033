"""Checks: the CUDA toolkit against the driver (CUDA minor-version compatibility).

The facts are the ``cuda_drivers`` knowledge table; the driver to suggest comes from
``gpucheck.diagnose.driver_choice`` (branch and kernel-module flavour for these GPUs).
"""

from __future__ import annotations

from packaging.version import Version

from gpucheck.diagnose.cuda_compat import (
    NewerThanTable,
    Support,
    driver_cuda,
    judge,
    min_driver_for_cuda,
    min_driver_for_major,
)
from gpucheck.diagnose.driver_choice import (
    cannot_judge,
    choose_driver,
    render_driver_install,
    toolkit_install,
)
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.toolkits import active_toolkit
from gpucheck.knowledge import load

EVIDENCE = ("nvml", "nvcc_candidates")


def _toolkit_package(facts: Facts, cuda: str) -> str:
    """The toolkit a driver fully supports, installed and put on PATH (a real release: 12.7 → 12.6)."""
    release = load.newest_real_release_at_most(cuda) or cuda
    return (
        f"{toolkit_install(release, facts.of(detect_host))}, then "
        f"`export PATH=/usr/local/cuda-{release}/bin:$PATH`"
    )


def _upgrade(facts: Facts, needed: str | None) -> str:
    """The driver upgrade for a toolkit that needs driver ``needed``, sized for these GPUs."""
    gpus = [(g.name, g.compute_capability) for g in facts.of(gpu_inventory)]
    choice = choose_driver(needed, gpus)
    floor = f" (≥ {choice.minimum})" if choice.minimum else ""
    return render_driver_install(choice, facts.of(detect_host), why=floor)


def _driver_max(info) -> str | None:
    reported = info.cuda_version or driver_cuda(info.version)
    return reported if isinstance(reported, str) else None


@check(
    "compat.toolkit_driver",
    title="the driver supports the CUDA toolkit in use",
    needs=("nvml", "nvidia_smi", "procfs", "toolkit"),
)
def check_toolkit_driver(facts: Facts) -> Finding:
    """Driver version against the active toolkit: full support, minor-version compatibility, or too old."""
    toolkit, info = facts.of(active_toolkit), facts.of(driver_info)
    if toolkit is None or toolkit.version is None:
        return skipped("no CUDA toolkit on PATH (see toolkit.nvcc)")
    needed = min_driver_for_cuda(toolkit.version)
    if isinstance(needed, NewerThanTable):
        return warned(
            cannot_judge(needed, f"which driver the CUDA {toolkit.version} toolkit at {toolkit.nvcc} needs"),
            f"Upgrade gpucheck: `{load.UPGRADE_GPUCHECK}`; meanwhile NVIDIA's release notes list the driver "
            "each toolkit needs: https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/",
            evidence=EVIDENCE,
            data={"toolkit": toolkit.version, "newer_than_table": needed.newest},
        )
    if not info.loaded or info.version is None:
        need = f": it will need driver ≥ {needed}" if needed else ""
        return skipped(f"no NVIDIA driver loaded to run the CUDA {toolkit.version} toolkit's programs{need}")
    data = {
        "driver": info.version,
        "toolkit": toolkit.version,
        "min_driver": needed,
        "driver_max_cuda": _driver_max(info),
    }
    support = judge(info.version, toolkit.version)
    if support is Support.FULL:
        return passed(
            f"driver {info.version} supports CUDA {toolkit.version} (needs ≥ {needed})",
            evidence=EVIDENCE,
            data=data,
        )
    if support is Support.MINOR_COMPAT:
        return warned(
            f"driver {info.version} runs CUDA {toolkit.version} only through minor-version compatibility "
            f"(≥ {min_driver_for_major(toolkit.version)}); it fully supports CUDA ≤ "
            f"{data['driver_max_cuda'] or '?'}: PTX built by this toolkit cannot be JIT-compiled and "
            "features "
            f"that need a newer driver fail (full support needs ≥ {needed})",
            _upgrade(facts, needed),
            evidence=EVIDENCE,
            data=data,
        )
    if support is Support.UNKNOWN_DRIVER:
        return skipped(f"the driver version {info.version!r} is not a version gpucheck can compare")
    if support is Support.UNKNOWN_CUDA:
        return skipped(f"CUDA {toolkit.version} is older than every release in gpucheck's table")
    downgrade = (
        f" Or use a toolkit this driver supports: {_toolkit_package(facts, data['driver_max_cuda'])}."
        if (data["driver_max_cuda"])
        else ""
    )
    return failed(
        f"driver {info.version} supports CUDA ≤ {data['driver_max_cuda'] or '?'}, but the toolkit on PATH is "
        f"CUDA {toolkit.version} (needs driver ≥ {needed}): programs fail with `CUDA driver version is "
        "insufficient for CUDA runtime version`",
        _upgrade(facts, needed) + downgrade,
        evidence=EVIDENCE,
        data=data,
    )


@check(
    "compat.known_versions",
    title="the driver and CUDA toolkit are within gpucheck's version tables",
    needs=("nvml", "nvidia_smi", "procfs", "toolkit"),
)
def check_known_versions(facts: Facts) -> list[Finding]:
    """A driver or toolkit newer than the newest row of ``cuda_drivers`` is said out loud, never assumed."""
    info, toolkit = facts.of(driver_info), facts.of(active_toolkit)
    newer: list[tuple[NewerThanTable, str]] = []
    reported = driver_cuda(info.version) if info.version else None
    if isinstance(reported, NewerThanTable):
        newer.append((reported, "which CUDA releases it supports beyond the newest in the table"))
    if info.cuda_version and isinstance(min_driver_for_cuda(info.cuda_version), NewerThanTable):
        item = min_driver_for_cuda(info.cuda_version)
        newer.append((item, f"the CUDA {info.cuda_version} that driver {info.version} reports"))
    if toolkit is not None and toolkit.version:
        item = min_driver_for_cuda(toolkit.version)
        if isinstance(item, NewerThanTable):
            newer.append((item, f"which driver the CUDA {toolkit.version} toolkit needs"))
    if not info.version and toolkit is None:
        return [skipped("no driver and no CUDA toolkit to compare with gpucheck's tables")]
    findings = [
        warned(
            cannot_judge(item, what),
            f"Upgrade gpucheck: `{load.UPGRADE_GPUCHECK}`",
            evidence=EVIDENCE,
            data={
                "subject": item.subject,
                "table": item.table,
                "newest": item.newest,
                "checked": item.checked.isoformat(),
            },
        )
        for item, what in newer
    ]
    checked = load.table("cuda_drivers").checked.isoformat()
    present = [
        f"driver {info.version}" if info.version else "",
        f"CUDA toolkit {toolkit.version}" if toolkit else "",
    ]
    subjects = " and ".join(p for p in present if p)
    verb = "are" if all(present) else "is"
    return findings or [
        passed(f"{subjects} {verb} within gpucheck's CUDA table (checked {checked})", evidence=EVIDENCE)
    ]


@check(
    "compat.toolkit_arch",
    title="the CUDA toolkit can still build for every GPU",
    needs=("nvml", "nvidia_smi", "toolkit"),
)
def check_toolkit_arch(facts: Facts) -> list[Finding]:
    """A toolkit newer than the last CUDA release that builds for a GPU's architecture (13.x and Pascal)."""
    toolkit, gpus = facts.of(active_toolkit), facts.of(gpu_inventory)
    if toolkit is None or toolkit.version is None:
        return [skipped("no CUDA toolkit on PATH (see toolkit.nvcc)")]
    known = [(g, load.architecture_of(g.compute_capability)) for g in gpus if g.compute_capability]
    if not known:
        return [skipped("no GPU compute capability reported to compare with the toolkit")]
    findings = []
    for gpu, arch in known:
        if not isinstance(arch, load.Architecture) or arch.last_cuda is None:
            continue
        if Version(toolkit.version) > Version(arch.last_cuda):
            findings.append(
                warned(
                    f"GPU {gpu.index} ({gpu.name}, {arch.name}, compute capability "
                    f"{gpu.compute_capability}): "
                    f"the CUDA {toolkit.version} toolkit at {toolkit.nvcc} cannot build for it (CUDA "
                    f"{arch.last_cuda} is the last release that can): nvcc fails with `Unsupported gpu "
                    f"architecture 'compute_{gpu.compute_capability.replace('.', '')}'`",
                    f"Install a toolkit that still builds for {arch.name}: "
                    f"{_toolkit_package(facts, arch.last_cuda)}",
                    evidence=EVIDENCE,
                    data={"toolkit": toolkit.version, "architecture": arch.name, "last_cuda": arch.last_cuda},
                )
            )
    return findings or [
        passed(f"the CUDA {toolkit.version} toolkit builds for every GPU's architecture", evidence=EVIDENCE)
    ]
