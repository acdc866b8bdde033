"""Checks: the device nodes (/dev/nvidiactl, /dev/nvidia<N>, /dev/nvidia-uvm): present, openable by the user.

The layer between the kernel module and the userspace driver: NVML and CUDA open these nodes read-write. A
user who may not gets ``Failed to initialize NVML: Insufficient Permissions``; a container started without
GPUs has none at all, and its fix is on the host.
"""

from __future__ import annotations

import stat

from gpucheck.diagnose import advice
from gpucheck.diagnose.checks.pci import nvidia_gpus
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import Host, detect_host
from gpucheck.diagnose.inventory import gpu_inventory
from gpucheck.diagnose.parse.nvidia_smi import SmiFailure
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import is_wsl2, loaded_modules, smi_state

NEEDS = ("device_nodes", "procfs", "nvml", "nvidia_smi")
EVIDENCE = ("device_nodes", "nvml", "file:/proc/driver/nvidia/version")
CONTROL, UVM = "/dev/nvidiactl", "/dev/nvidia-uvm"
MODULE_PARAMS = (
    "or have the driver create them for a group: `options nvidia NVreg_DeviceFileGID=<gid> "
    "NVreg_DeviceFileMode=0660` in /etc/modprobe.d/nvidia.conf, then reboot"
)


def device_nodes(facts: Facts) -> tuple[dict[str, dict], dict[str, str]]:
    """Path → node facts (type, mode, uid, gid, access) and gid → group name."""
    item = facts.evidence.value("device_nodes")
    data = item.data if item is not None and isinstance(item.data, dict) else {}
    nodes = {n["path"]: n for n in data.get("nodes", ()) if isinstance(n, dict) and n.get("exists")}
    names = data.get("group_names") if isinstance(data.get("group_names"), dict) else {}
    return nodes, names


def can_open(node: dict, host: Host) -> bool | None:
    """Whether the running user may open a node read-write (None when it cannot be told)."""
    if node.get("access") is not None:
        return bool(node["access"])
    if host.root:
        return True
    if host.uid is None or not isinstance(node.get("mode"), str):
        return None
    mode = int(node["mode"], 8)
    if node.get("uid") == host.uid:
        return mode & (stat.S_IRUSR | stat.S_IWUSR) == stat.S_IRUSR | stat.S_IWUSR
    if node.get("gid") in host.gids:
        return mode & (stat.S_IRGRP | stat.S_IWGRP) == stat.S_IRGRP | stat.S_IWGRP
    return mode & (stat.S_IROTH | stat.S_IWOTH) == stat.S_IROTH | stat.S_IWOTH


def describe(node: dict, names: dict[str, str]) -> str:
    """``/dev/nvidia0 (0660 root:video)``."""
    group = names.get(str(node.get("gid")), str(node.get("gid")))
    owner = "root" if node.get("uid") == 0 else str(node.get("uid"))
    return f"{node['path']} ({node.get('mode', '?')} {owner}:{group})"


def _permission_error(facts: Facts) -> str | None:
    """NVML's or nvidia-smi's own words when they were refused the devices."""
    nvml = facts.evidence.value("nvml")
    if nvml is not None and nvml.error and ("permission" in nvml.error.lower()):
        return f"NVML: {nvml.error}"
    smi = facts.of(smi_state)
    if smi.failure is SmiFailure.NO_PERMISSION:
        return f"nvidia-smi: {smi.message}"
    return None


def _module_loaded(facts: Facts) -> bool:
    modules = facts.of(loaded_modules) or frozenset()
    version = facts.evidence.file("/proc/driver/nvidia/version")
    return "nvidia" in modules or bool(version is not None and version.exists)


def _missing_in_container(host: Host) -> Finding:
    fix = advice.on_host(
        host,
        "start the container with the GPUs: `docker run --gpus all ...` (needs the NVIDIA Container "
        f"Toolkit on the host: {advice.container_toolkit_install(advice.host_side(host))}), or with CDI "
        "`--device nvidia.com/gpu=all` (Podman, Docker ≥ 25); on Kubernetes request `nvidia.com/gpu` in "
        "the pod's resources.limits.",
    )
    return failed(
        f"no NVIDIA device nodes inside this {host.container} container: it was started without GPUs",
        fix,
        evidence=EVIDENCE,
        data={"stack_layer": "devices", "container": host.container},
    )


@check("driver.device_nodes", title="the NVIDIA device nodes exist and the user can open them", needs=NEEDS)
def check_device_nodes(facts: Facts) -> Finding:
    """/dev/nvidiactl, /dev/nvidia<N> and /dev/nvidia-uvm: present, character devices, openable read-write."""
    host = facts.of(detect_host)
    nodes, names = device_nodes(facts)
    item = facts.evidence.value("device_nodes")
    if item is None or not isinstance(item.data, dict) or item.data.get("dev") is False:
        return skipped("there is no /dev to look at (a recorded tree without device nodes)")
    if nvidia_gpus(facts) == []:
        return skipped("no NVIDIA GPU on the PCI bus, so no device nodes (see driver.pci_devices)")
    if is_wsl2(facts.evidence):
        if "/dev/dxg" in nodes:
            return passed(
                "WSL2 reaches the GPU through /dev/dxg (no /dev/nvidia* nodes there)", evidence=EVIDENCE
            )
        return skipped("WSL2 without /dev/dxg (see wsl.kernel)")
    nvidia = {
        p: n for p, n in nodes.items() if p.startswith("/dev/nvidia") and not p.startswith("/dev/nvidia-caps")
    }
    denied = _permission_error(facts)
    if not nvidia:
        if host.in_container:
            return _missing_in_container(host)
        if _module_loaded(facts):
            return failed(
                "the nvidia kernel module is loaded but /dev/nvidiactl and /dev/nvidia<N> do not exist",
                advice.on_host(
                    host,
                    f"Create them: `{advice.sudo(host, 'nvidia-modprobe -c 0 -u')}` (from the driver's "
                    "nvidia-modprobe), and check the udev rules that create them at boot.",
                ),
                evidence=EVIDENCE,
            )
        return skipped("no NVIDIA device nodes because no NVIDIA kernel module is loaded (see driver.loaded)")
    closed = [n for n in nvidia.values() if can_open(n, host) is False and n.get("kind") in ("char", "file")]
    who = (
        f"user {host.user or host.uid}" + (f" (groups: {', '.join(host.groups)})" if host.groups else "")
        if host.uid is not None
        else "this user"
    )
    if closed:
        groups = {
            names.get(str(n.get("gid")), str(n.get("gid"))) for n in closed if n.get("gid") not in (0, None)
        }
        group = sorted(groups)[0] if groups else None
        fix = (
            f"Add the user to the group that owns them: {advice.join_group(host, group)}"
            if group and all(int(n["mode"], 8) & stat.S_IRWXG for n in closed)
            else advice.on_host(host, f"Let the user open them, {MODULE_PARAMS}")
        )
        return failed(
            f"{who} cannot open {', '.join(describe(n, names) for n in closed[:4])}"
            + (f" — {denied}" if denied else ""),
            fix,
            evidence=EVIDENCE,
            data={"nodes": [n["path"] for n in closed]},
        )
    if denied:
        listing = ", ".join(describe(n, names) for n in list(nvidia.values())[:4])
        fix = f"Run as a user allowed to open {listing}: {advice.join_group(host, 'video')}; " + (
            "in a container also check that the runtime passed the devices in and, with SELinux, "
            f"`{advice.sudo(advice.host_side(host), 'setsebool -P container_use_devices 1')}` on the host"
            if host.in_container
            else f"or {MODULE_PARAMS}"
        )
        return failed(
            f"the driver refused {who} the GPU devices ({denied}); nodes: {listing}", fix, evidence=EVIDENCE
        )
    problems = []
    if CONTROL not in nvidia:
        problems.append(f"{CONTROL} is missing")
    minors = [p for p in nvidia if p[len("/dev/nvidia") :].isdigit()]
    if UVM not in nvidia and (_module_loaded(facts) or minors):
        problems.append(f"{UVM} is missing (CUDA fails with `CUDA unknown error` / no devices)")
    gpus = facts.of(gpu_inventory)
    if gpus and len(minors) < len(gpus):
        problems.append(f"{len(minors)} /dev/nvidia<N> nodes for {len(gpus)} GPUs")
    if problems:
        return warned(
            "; ".join(problems),
            advice.on_host(
                host,
                "recreate the container with `--gpus all` (the runtime passes every node in), or add the "
                "missing ones with `--device /dev/nvidia-uvm` (and `--device /dev/nvidiactl`); if the host "
                f"lacks them too, `{advice.sudo(advice.host_side(host), 'nvidia-modprobe -c 0 -u')}` there",
            )
            if host.in_container
            else f"`{advice.sudo(host, 'nvidia-modprobe -c 0 -u')}` creates them",
            evidence=EVIDENCE,
        )
    known = all(can_open(n, host) for n in nvidia.values())
    return passed(
        f"{len(nvidia)} NVIDIA device nodes, "
        + (f"all openable by {who}: " if known else "present (who may open them is not recorded here): ")
        + ", ".join(describe(n, names) for n in list(nvidia.values())[:3]),
        evidence=EVIDENCE,
    )
