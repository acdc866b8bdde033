"""Checks: what the kernel says — the module flavour against the GPUs, and the driver's complaints.

The flavour is open or proprietary (/proc/driver/nvidia/version); the complaints are the kernel log's Xid
errors, a GPU the open modules cannot drive, an API mismatch, a Secure Boot refusal.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import Host, detect_host
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.kernel_log import XID_MEANINGS, KernelEvent, kernel_events
from gpucheck.diagnose.parse.proc import parse_nvidia_version
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import is_wsl2
from gpucheck.knowledge import load

LOG_EVIDENCE = ("kernel_log",)
SIGNING_REFUSALS = ("operation not permitted", "key was rejected by service", "required key not available")
"""What modprobe says when Secure Boot or kernel lockdown refuses an unsigned module (doctor-anchors F04)."""
FLAVOUR_EVIDENCE = ("file:/proc/driver/nvidia/version", "nvml")
OPEN_FROM_CC = (7, 5)
"""The open GPU kernel modules need the GSP of Turing (compute capability 7.5) or newer."""
OPEN_ONLY_FROM_CC = (10, 0)
"""Blackwell (compute capability 10.x, 12.x) is driven by the open kernel modules only."""
# Source: https://developer.nvidia.com/blog/nvidia-transitions-fully-towards-open-source-gpu-kernel-modules/


def _branch(facts: Facts) -> str:
    info = facts.of(driver_info)
    return (info.version or "580").split(".")[0]


def _cc(text: str | None) -> tuple[int, int] | None:
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def open_modules(facts: Facts) -> bool | None:
    """True for the open kernel modules, False for the proprietary ones, None when no module is loaded."""
    item = facts.evidence.file("/proc/driver/nvidia/version")
    if item is None or not item.content:
        return None
    try:
        return parse_nvidia_version(item.content).open_modules
    except ParseError:
        return None


@check("driver.module_flavour", title="the kernel module flavour (open or proprietary) drives these GPUs",
       needs=("procfs", "nvml", "nvidia_smi"))  # fmt: skip
def check_module_flavour(facts: Facts) -> Finding:
    """Open modules on a pre-Turing GPU, or proprietary modules on a Blackwell GPU, cannot drive it."""
    flavour = open_modules(facts)
    if is_wsl2(facts.evidence):
        return skipped("WSL2 uses the Windows driver; there is no Linux kernel module")
    if flavour is None:
        return skipped("no NVIDIA kernel module is loaded (see driver.loaded)")
    name = "open" if flavour else "proprietary"
    host = facts.of(detect_host)
    for gpu in facts.of(gpu_inventory):
        cc = _cc(gpu.compute_capability)
        if cc is None:
            continue
        if flavour and cc < OPEN_FROM_CC:
            return failed(
                f"the open kernel modules are loaded, but GPU {gpu.index} ({gpu.name}, compute capability "
                f"{gpu.compute_capability}) predates Turing and needs the proprietary ones",
                advice.driver_install(host, _branch(facts), open_modules=False),
                evidence=FLAVOUR_EVIDENCE,
                data={"open_modules": True, "gpu": gpu.index},
            )
        if not flavour and cc >= OPEN_ONLY_FROM_CC:
            return failed(
                f"the proprietary kernel modules are loaded, but GPU {gpu.index} ({gpu.name}, compute "
                f"capability {gpu.compute_capability}) is Blackwell or newer: only the open modules drive it",
                advice.driver_install(host, _branch(facts), open_modules=True),
                evidence=FLAVOUR_EVIDENCE,
                data={"open_modules": False, "gpu": gpu.index},
            )
    return passed(
        f"the {name} NVIDIA kernel modules are loaded",
        evidence=FLAVOUR_EVIDENCE,
        data={"open_modules": flavour},
    )


def _xid(event: KernelEvent, host: Host) -> Finding:
    code = int(event.detail)
    meaning, kind = XID_MEANINGS.get(code, ("an unlisted Xid", "hw"))
    said = f"the kernel logged Xid {code} ({meaning}): `{event.line}`"
    if kind == "app":
        return warned(
            said,
            "Usually a fault of the program that ran (an illegal memory access, a killed job): rerun "
            "it with `CUDA_LAUNCH_BLOCKING=1` or under `compute-sanitizer`; if it recurs across programs, "
            "test the GPU with `dcgmi diag -r 2`.",
            evidence=LOG_EVIDENCE,
            data={"xid": code, "stack_layer": "framework"},
        )
    if kind == "lost":
        return _fallen(event, host, said)
    return failed(
        said,
        advice.on_host(
            host,
            "Drain the GPU's jobs, read `nvidia-smi -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT`, reset it "
            f"(`{advice.sudo(advice.host_side(host), 'nvidia-smi -r -i <index>')}`) or reboot; if the "
            "Xid returns, run `dcgmi diag -r 3` and have the GPU replaced.",
        ),
        evidence=LOG_EVIDENCE,
        data={"xid": code, "stack_layer": "gpu"},
    )


def _fallen(event: KernelEvent, host: Host, said: str = "") -> Finding:
    return failed(
        said or f"the kernel says a GPU has fallen off the bus: `{event.line}`",
        advice.on_host(
            host,
            "The GPU stopped answering on the PCI bus (overheating, power, a loose card or riser, firmware): "
            "check temperatures and the power cables, reseat the card, update the system BIOS, then reboot.",
        ),
        evidence=LOG_EVIDENCE,
        data={"stack_layer": "pci"},
    )


def _rebuild(host: Host) -> str:
    return f"rebuild it for the running kernel: {advice.kernel_module_rebuild(advice.host_side(host))}"


def _event_finding(event: KernelEvent, facts: Facts, host: Host) -> Finding | None:
    if event.kind == "xid":
        return _xid(event, host)
    if event.kind == "fallen_off_bus":
        return _fallen(event, host)
    if event.kind == "open_unsupported":
        return failed(
            f"the open NVIDIA kernel modules refused GPU {event.detail or '(PCI id in the log)'}: it "
            f"has no GSP (pre-Turing) — `{event.line}`",
            advice.driver_install(host, _branch(facts), open_modules=False),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel", "pci_ids": event.detail},
        )
    if event.kind == "branch_too_old":
        release = event.detail.split(" ")[0]
        return failed(
            f"driver {release} does not know this GPU ({event.detail}): it is newer than the branch — "
            f"`{event.line}`",
            "Install a newer driver branch: " + advice.driver_install(host, str(load.recommended_branch())),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel", "release": release},
        )
    if event.kind == "legacy_gpu":
        branch = event.detail
        return failed(
            f"this GPU is only supported by the NVIDIA {branch}.xx legacy branch; the installed driver "
            f"ignores it — `{event.line}`",
            advice.driver_install(host, branch, open_modules=False),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel", "branch": branch},
        )
    if event.kind == "insert_failed":
        module, why = (event.detail.split(": ", 1) + [""])[:2]
        signed = why.lower() in SIGNING_REFUSALS
        enrol = advice.sudo(advice.host_side(host), "mokutil --import /var/lib/dkms/mok.pub")
        fix = (
            f"Secure Boot / kernel lockdown refuses the unsigned {module} module: sign it (DKMS signs with "
            f"/var/lib/dkms/mok.pub after `{enrol}` and a reboot to enrol the key), or disable Secure Boot"
            if signed
            else _rebuild(host)
        )
        return failed(
            f"modprobe could not load {module}: {why} — `{event.line}`",
            advice.on_host(host, fix),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel"},
        )
    if event.kind == "api_mismatch":
        return failed(
            f"the kernel logged an NVRM API mismatch ({event.detail}): the driver was upgraded without "
            "reloading the kernel module",
            advice.on_host(
                host, f"`{advice.sudo(advice.host_side(host), 'reboot')}` so the new module loads."
            ),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "userspace"},
        )
    if event.kind == "probe_not_called":
        return failed(
            "the kernel says the NVIDIA probe routine was not called: another driver (nouveau, vfio-pci) "
            "claimed the GPU first",
            advice.blacklist_nouveau(host),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel"},
        )
    if event.kind == "firmware_missing":
        return failed(
            f"the driver could not load its GSP firmware: `{event.line}`",
            "Reinstall the driver package that ships /lib/firmware/nvidia/<version>/gsp_*.bin (the "
            "firmware must match the module's version): " + advice.driver_install(host, _branch(facts)),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel"},
        )
    if event.kind == "init_failed":
        return failed(
            f"the driver failed to initialise a GPU: `{event.line}`",
            advice.on_host(
                host,
                "Read the NVRM lines just before it (`sudo dmesg | grep NVRM`): missing firmware, a GPU this "
                "branch does not support, a large-BAR GPU without Above 4G Decoding / Resizable BAR enabled "
                "in the firmware, or a hardware fault; fix that, reinstall the driver, then reseat the card.",
            ),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel"},
        )
    if event.kind == "power_cables":
        return failed(
            "the kernel says a GPU lacks its auxiliary power cables",
            advice.on_host(host, "Power off and connect the GPU's PCIe power cables, then boot again."),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "pci"},
        )
    if event.kind == "unsigned_module":
        enrol = advice.sudo(advice.host_side(host), "mokutil --import /var/lib/dkms/mok.pub")
        return failed(
            f"the kernel refused an unsigned module (Secure Boot lockdown): `{event.line}`",
            advice.on_host(
                host,
                "Sign the module with an enrolled key (`mokutil --sb-state` shows Secure Boot; DKMS "
                f"signs with /var/lib/dkms/mok.pub after `{enrol}` and a reboot to enrol it), or disable "
                "Secure Boot in the firmware.",
            ),
            evidence=LOG_EVIDENCE,
            data={"stack_layer": "kernel"},
        )
    return None


@check("driver.kernel_log", title="the kernel log has no NVIDIA driver errors", needs=("kernel_log",))
def check_kernel_log(facts: Facts) -> Iterable[Finding]:
    """Xid errors, fallen-off-the-bus, open modules refusing a GPU, API mismatch, lockdown, missing power."""
    item = facts.evidence.value("kernel_log")
    if item is None or item.error:
        why = item.error if item is not None else "not collected"
        return [skipped(f"the kernel log is not readable here ({why}); `sudo dmesg | grep -i nvrm` shows it")]
    lines = item.data.get("lines", []) if isinstance(item.data, dict) else []
    host = facts.of(detect_host)
    findings = [
        f for f in (_event_finding(e, facts, host) for e in kernel_events(list(lines))) if f is not None
    ]
    source = item.data.get("source", "the kernel log") if isinstance(item.data, dict) else "the kernel log"
    return findings or [
        passed(f"no NVIDIA driver errors in {source} ({len(lines)} NVIDIA lines)", evidence=LOG_EVIDENCE)
    ]
