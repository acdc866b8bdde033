"""Checks: the NVIDIA driver — loaded or not, kernel module vs. userspace, and the nvidia-smi tool itself."""

from __future__ import annotations

from gpucheck.diagnose import advice
from gpucheck.diagnose.cuda_compat import NewerThanTable, min_driver_for_cuda
from gpucheck.diagnose.driver_choice import choose_driver, render_driver_install
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped, warned
from gpucheck.diagnose.host import Host, detect_host
from gpucheck.diagnose.inventory import DriverInfo, active_toolkit, driver_info, nvidia_smi_runs
from gpucheck.diagnose.parse.nvidia_smi import SmiFailure, classify_failure, unknown_field
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import SmiState, is_wsl2, loaded_modules, smi_state
from gpucheck.knowledge import load

EVIDENCE = ("nvml", "file:/proc/driver/nvidia/version", "file:/proc/modules")
NEEDS = ("nvml", "nvidia_smi", "procfs")
DEFAULT_BRANCH = str(load.recommended_branch())
"""The driver branch recommended when nothing asks for another (knowledge table cuda_drivers)."""


def _rebuild_fix(host: Host) -> str:
    """The module is not built for the running kernel: rebuild it (the commands come from advice)."""
    check_it = advice.sudo(advice.host_side(host), "modprobe nvidia")
    return (
        "The module is not built for the running kernel (kernel update without DKMS): "
        f"{advice.kernel_module_rebuild(host)}; then `{check_it}` and `cat /proc/driver/nvidia/version`. "
        "On Secure Boot systems a rejected module needs signing (`mokutil --sb-state`)."
    )


def fatal_smi_failures(host: Host) -> dict[SmiFailure, tuple[str, str]]:
    """nvidia-smi failures that mean broken hardware or a lost device: (what it means, the fix)."""
    side = advice.host_side(host)
    return {
        SmiFailure.GPU_LOST: (
            "a GPU has fallen off the bus",
            advice.on_host(
                host,
                "Check cooling, power cables and the PSU, update the system BIOS, then reboot; "
                f"`{advice.sudo(side, 'dmesg')} | grep -i xid` shows Xid 79.",
            ),
        ),
        SmiFailure.INFOROM_CORRUPTED: (
            "a GPU's infoROM is corrupted",
            "The GPU must be replaced or its infoROM reflashed by the vendor.",
        ),
        SmiFailure.NVML_UNKNOWN_ERROR: (
            "NVML fails with an unknown error",
            "In a container this follows `systemctl daemon-reload` on the host: run "
            f"`{advice.sudo(side, 'nvidia-ctk system create-dev-char-symlinks --create-all')}` on the host, "
            "then recreate the container.",
        ),
    }


def _install_fix(facts: Facts) -> str:
    """The exact driver install, sized for the CUDA toolkit found (if any) and the kernel-module flavour."""
    toolkit = facts.of(active_toolkit)
    needed = min_driver_for_cuda(toolkit.version) if toolkit is not None and toolkit.version else None
    if isinstance(needed, NewerThanTable):
        needed = None
    choice = choose_driver(needed)
    why = (
        f" (the CUDA {toolkit.version} toolkit at {toolkit.nvcc} needs ≥ {needed})"
        if needed and toolkit
        else ""
    )
    host = facts.of(detect_host)
    suffix = "" if host.in_container or host.wsl2 else " Without an NVIDIA GPU no GPU work is possible."
    return f"{render_driver_install(choice, host, why=why)}{suffix}"


def _driver_answered(facts: Facts) -> tuple[str, str] | None:
    """The first nvidia-smi run (any form) whose failure only a loaded driver can print, and its key."""
    for run in nvidia_smi_runs(facts.evidence).values():
        if run.succeeded or not run.ran:
            continue
        output = run.stdout + run.stderr
        per_gpu = "unable to determine the device handle" in output.lower()
        lost = classify_failure(output, run.returncode) in (SmiFailure.GPU_LOST, SmiFailure.INFOROM_CORRUPTED)
        if per_gpu or lost:
            line = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
            return line[:200], run.key
    return None


def _not_loaded(facts: Facts, info: DriverInfo) -> Finding:
    modules = facts.of(loaded_modules) or frozenset()
    smi = facts.of(smi_state)
    host = facts.of(detect_host)
    reasons = info.error or "no NVIDIA driver evidence"
    answered = _driver_answered(facts)
    if answered is not None:
        # Only a loaded driver can say a GPU is lost or its handle cannot be had: the driver layer stands,
        # the failure is that GPU's (gpu.errors), not "no driver".
        message, key = answered
        return passed(
            f"an NVIDIA driver is loaded (nvidia-smi answers from it: `{message}`); its version could not "
            "be read because a GPU does not answer (see gpu.errors)",
            evidence=(*EVIDENCE, key),
        )
    if is_wsl2(facts.evidence):
        return failed(
            f"no NVIDIA driver is visible inside WSL2 ({reasons}); the Windows driver provides "
            "/usr/lib/wsl/lib",
            _install_fix(facts),
            evidence=EVIDENCE,
        )
    if host.in_container:
        return failed(
            f"no NVIDIA driver is visible inside this {host.container} container ({reasons}): the driver "
            "lives on the host and the container runtime mounts it in when the container gets GPUs",
            _install_fix(facts),
            evidence=EVIDENCE,
            data={"stack_layer": "userspace", "container": host.container},
        )
    if "nouveau" in modules:
        return failed(
            f"the nouveau driver owns the GPU; no NVIDIA driver is loaded ({reasons})",
            advice.blacklist_nouveau(host),
            evidence=EVIDENCE,
            data={"nouveau": True},
        )
    if smi.failure is SmiFailure.DRIVER_NOT_LOADED:
        return failed(
            f"nvidia-smi is installed but no NVIDIA kernel module is loaded: {smi.message}",
            _rebuild_fix(host),
            evidence=(*EVIDENCE, smi.evidence_key),
        )
    return failed(
        "no NVIDIA driver is loaded and no NVIDIA GPU is visible: /proc/driver/nvidia/version does not "
        "exist, "
        f"{reasons}",
        _install_fix(facts),
        evidence=EVIDENCE,
    )


@check("driver.loaded", title="an NVIDIA driver is loaded", needs=NEEDS)
def check_driver_loaded(facts: Facts) -> Finding:
    """Whether NVML, nvidia-smi or the kernel reports an NVIDIA driver, and which version."""
    info = facts.of(driver_info)
    if not info.loaded:
        return _not_loaded(facts, info)
    data = {"driver_version": info.version, "cuda_version": info.cuda_version, "source": info.source}
    cuda = f"supports CUDA ≤ {info.cuda_version}" if info.cuda_version else "maximum CUDA version unknown"
    if info.source == "procfs":
        return _kernel_only(facts, info, cuda, data)
    return passed(
        f"NVIDIA driver {info.version} ({cuda}; read via {info.source})", evidence=EVIDENCE, data=data
    )


def _kernel_only(facts: Facts, info: DriverInfo, cuda: str, data: dict) -> Finding:
    """The kernel module is loaded but NVML and nvidia-smi did not answer: say why from nvidia-smi."""
    smi = facts.of(smi_state)
    host = facts.of(detect_host)
    branch = (info.version or DEFAULT_BRANCH).split(".")[0]
    if smi.failure is SmiFailure.VERSION_MISMATCH:
        return failed(
            f"kernel module {info.version} is loaded but the userspace libraries are from another "
            f"driver version (`{smi.message}`)",
            _reboot(host),
            evidence=(*EVIDENCE, smi.evidence_key),
            data=data,
        )
    nvml = facts.evidence.value("nvml")
    refused = smi.failure is SmiFailure.NO_PERMISSION or bool(
        nvml is not None and nvml.error and "permission" in nvml.error.lower()
    )
    if refused:
        return passed(
            f"NVIDIA driver {info.version} kernel module is loaded ({cuda}); the userspace driver is refused "
            "the devices for this user (see driver.device_nodes)",
            evidence=(*EVIDENCE, smi.evidence_key) if smi.evidence_key else EVIDENCE,
            data=data,
        )
    query = nvidia_smi_runs(facts.evidence).get("query")
    if query is not None and query.timed_out:
        side = advice.host_side(host)
        return errored(
            f"kernel module {info.version} is loaded ({cuda}) but nvidia-smi timed out: {smi.message} "
            "(a wedged driver or GPU)",
            advice.on_host(
                host,
                f"Look for Xid errors: `{advice.sudo(side, 'dmesg')} | grep -i -E 'NVRM|Xid'` (see "
                "driver.kernel_log); if the GPU is lost, reboot.",
            ),
            evidence=(*EVIDENCE, smi.evidence_key),
            data=data,
        )
    if smi.failure in (SmiFailure.NO_DEVICES, SmiFailure.GPU_LOST, SmiFailure.INFOROM_CORRUPTED):
        return passed(
            f"NVIDIA driver {info.version} kernel module is loaded ({cuda}); nvidia-smi: {smi.message}",
            evidence=(*EVIDENCE, smi.evidence_key),
            data=data,
        )
    fix = advice.userspace_install(host, branch)
    return warned(
        f"kernel module {info.version} is loaded ({cuda}) but neither NVML nor nvidia-smi answered: "
        f"{info.error}",
        fix,
        evidence=EVIDENCE,
        data={**data, "stack_layer": "userspace"},
    )


def _reboot(host: Host) -> str:
    return advice.on_host(
        host, f"`{advice.sudo(advice.host_side(host), 'reboot')}` so the matching kernel module loads."
    )


def _version_mismatch(facts: Facts, info: DriverInfo) -> Finding | None:
    """A kernel module whose version differs from the userspace driver's (upgrade without reboot)."""
    smi = facts.of(smi_state)
    host = facts.of(detect_host)
    side = advice.host_side(host)
    differs = info.kernel_version and info.version and info.source != "procfs"
    if differs and info.kernel_version != info.version:
        reload = (
            f"{advice.sudo(side, 'rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia')} && "
            f"{advice.sudo(side, 'modprobe nvidia nvidia_uvm')}"
        )
        return failed(
            f"kernel module {info.kernel_version} differs from the userspace driver {info.version} "
            "(Driver/library version mismatch: the driver was upgraded without a reboot)",
            advice.on_host(host, f"`{advice.sudo(side, 'reboot')}` (or reload it: `{reload}`)."),
            evidence=EVIDENCE,
            data={"kernel": info.kernel_version, "userspace": info.version, "stack_layer": "userspace"},
        )
    if smi.failure is SmiFailure.VERSION_MISMATCH:
        return failed(
            "nvidia-smi reports `Driver/library version mismatch`: the loaded kernel module and the "
            "userspace libraries come from different driver versions",
            _reboot(host),
            evidence=(*EVIDENCE, smi.evidence_key),
        )
    return None


@check("driver.kernel_module", title="kernel modules match the userspace driver", needs=NEEDS)
def check_kernel_module(facts: Facts) -> Finding:
    """The nvidia and nvidia_uvm modules loaded, nouveau not, and the module's version equal userspace's."""
    info = facts.of(driver_info)
    if is_wsl2(facts.evidence):
        return skipped("WSL2 uses the Windows driver through /dev/dxg; there is no NVIDIA kernel module")
    mismatch = _version_mismatch(facts, info)
    if mismatch is not None:
        return mismatch
    modules = facts.of(loaded_modules)
    if modules is None:
        return skipped("/proc/modules is not readable here (a container, or a kernel without module support)")
    host = facts.of(detect_host)
    side = advice.host_side(host)
    if "nouveau" in modules and "nvidia" in modules:
        return warned(
            "both nouveau and nvidia kernel modules are loaded",
            advice.blacklist_nouveau(host),
            evidence=EVIDENCE,
        )
    if "nvidia" in modules and "nvidia_uvm" not in modules:
        return warned(
            "the nvidia module is loaded but nvidia_uvm is not: CUDA programs fail with "
            "`CUDA unknown error` / no devices",
            advice.on_host(
                host,
                f"`{advice.sudo(side, 'modprobe nvidia_uvm')}` "
                f"(or `{advice.sudo(side, 'nvidia-modprobe -u -c0')}`); "
                "to persist, add `nvidia_uvm` to /etc/modules-load.d/nvidia.conf.",
            ),
            evidence=EVIDENCE,
        )
    if "nvidia" not in modules:
        return skipped("no nvidia kernel module is loaded (see driver.loaded)")
    return passed(
        "nvidia and nvidia_uvm kernel modules are loaded"
        + (f" (module {info.kernel_version})" if info.kernel_version else ""),
        evidence=EVIDENCE,
    )


@check("driver.nvidia_smi", title="nvidia-smi runs and answers", needs=NEEDS)
def check_nvidia_smi(facts: Facts) -> Finding:
    """nvidia-smi: missing while a driver is loaded, hung, unreadable, or failing with a known error."""
    smi, info = facts.of(smi_state), facts.of(driver_info)
    run = nvidia_smi_runs(facts.evidence).get("query")
    keys = (smi.evidence_key,) if smi.evidence_key else ()
    if run is None:
        return skipped("nvidia-smi was not run")
    host = facts.of(detect_host)
    side = advice.host_side(host)
    if run.not_found:
        if info.loaded:
            branch = info.version.split(".")[0] if info.version else DEFAULT_BRANCH
            fix = advice.userspace_install(host, branch)
            return warned(
                f"nvidia-smi is not on PATH although driver {info.version} is loaded", fix, evidence=keys
            )
        return skipped("nvidia-smi is not installed (no NVIDIA driver; see driver.loaded)", evidence=keys)
    if run.timed_out:
        return errored(
            f"{smi.message}: the driver is not answering (a wedged GPU or driver)",
            advice.on_host(
                host,
                f"Look for Xid errors: `{advice.sudo(side, 'dmesg')} | grep -i -E 'NVRM|Xid'`; enable "
                f"persistence (`{advice.sudo(side, 'nvidia-smi -pm 1')}`) and, if the GPU is lost, reboot.",
            ),
            evidence=keys,
        )
    if run.error:
        return errored(
            smi.message,
            f"Check the file's permissions: `ls -l {run.resolved or run.argv[0]}`.",
            evidence=keys,
        )
    return _smi_answer(facts, smi, keys)


def _smi_answer(facts: Facts, smi: SmiState, keys: tuple[str, ...]) -> Finding:
    """The verdict on an nvidia-smi run that started and exited."""
    if smi.failure is SmiFailure.UNKNOWN_FIELD:
        runs = nvidia_smi_runs(facts.evidence)
        field = unknown_field(smi.output) or "a queried field"
        if any(r.succeeded for role, r in runs.items() if role in ("legacy", "xml", "text")):
            return passed(
                f"nvidia-smi answers (this driver does not know `{field}`; used the fields it knows)",
                evidence=tuple(r.key for r in runs.values()),
            )
        return warned(
            f"nvidia-smi rejects the query field `{field}` and the fallback queries failed too",
            "Upgrade the driver, or run `nvidia-smi -q` by hand to read the GPU state.",
            evidence=tuple(r.key for r in runs.values()),
        )
    fatal = fatal_smi_failures(facts.of(detect_host))
    if smi.failure in fatal:
        what, fix = fatal[smi.failure]
        return failed(f"{what}: {smi.message}", fix, evidence=keys)
    if smi.failure is not None:
        if facts.of(driver_info).loaded or smi.failure in (SmiFailure.OTHER, SmiFailure.NO_PERMISSION):
            return warned(
                f"nvidia-smi failed: {smi.message}",
                "Run `nvidia-smi` by hand to see the full message; see driver.* and gpu.* findings.",
                evidence=keys,
            )
        return skipped(f"nvidia-smi failed because no driver answers: {smi.message}", evidence=keys)
    if facts.of(driver_info).source == "none":
        return errored(
            "nvidia-smi exited 0 but printed nothing gpucheck can read (garbage or an unknown format)",
            "Run `nvidia-smi --query-gpu=index,name --format=csv` by hand and report the output with "
            "`gpucheck snapshot`.",
            evidence=keys,
        )
    return passed("nvidia-smi answers", evidence=keys)
