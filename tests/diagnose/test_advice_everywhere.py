"""Every remediation doctor can print, rendered for Ubuntu, RHEL, openSUSE, Arch, a container and WSL2.

The evidence is each recorded scenario under tests/scenarios/ (collected through the real collectors from its
tree and fake executables) plus recorded kernel-log, PCI, device-node and per-GPU NVML failures; the host is
swapped in as the host collector would record it. Then, for each host: no command of another package manager,
and no driver install inside a container or a WSL2 distro.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gpucheck.collect.evidence import Evidence, FileRead, Value
from gpucheck.diagnose.registry import select_checks
from gpucheck.pipeline import DoctorOptions, diagnose, gather
from tests.conftest import FakeBin
from tests.test_scenarios import SCENARIOS, materialise

CHECKS = [c for c in select_checks() if c.layer not in ("torch", "tensorflow", "framework", "expect")]
PACKAGE_DIR = Path(__file__).parents[2] / "gpucheck" / "diagnose" / "checks"

HOSTS: dict[str, dict] = {
    "ubuntu": {"os": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n', "uid": 1000},
    "rhel": {
        "os": 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n',
        "uid": 1000,
    },
    "opensuse": {
        "os": 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n',
        "uid": 1000,
    },
    "arch": {"os": 'NAME="Arch Linux"\nID=arch\n', "uid": 0},
    "container": {"os": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n', "uid": 0, "container": True},
    "wsl2": {"os": 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n', "uid": 1000, "wsl2": True},
}
FOREIGN: dict[str, tuple[str, ...]] = {
    "ubuntu": ("dnf ", "yum ", "zypper", "pacman", "dracut", "mkinitcpio", "rpm -q"),
    "rhel": ("apt-get", "apt ", "apt-cache", "dpkg", "zypper", "pacman", "update-initramfs", "mkinitcpio"),
    "opensuse": ("apt-get", "apt ", "apt-cache", "dpkg", "dnf ", "yum ", "pacman", "update-initramfs"),
    "arch": ("apt-get", "apt ", "apt-cache", "dpkg", "dnf ", "yum ", "zypper", "update-initramfs", "dracut"),
}
DRIVER_INSTALL = re.compile(
    r"install[^`]*(nvidia-driver-\d|cuda-drivers|nvidia-open|nvidia-driver-G06|kmp-default|nvidia-utils-\d|"
    r"libnvidia-compute-\d)|dkms autoinstall|modprobe|blacklist-nouveau|nvidia-modprobe|NVreg_"
)
"""A command that changes the kernel driver or installs the NVIDIA driver: never for inside a container."""

KERNEL_LOG = [  # verbatim, doctor-anchors F35 and the threads named in gpucheck/diagnose/parse/kernel_log.py
    "[  160.877997] NVRM: The NVIDIA GPU 0000:01:00.0 (PCI ID: 10de:2331)",
    "               NVRM: installed in this system is not supported by open",
    "               NVRM: nvidia.ko because it does not include the required GPU",
    "[ 7386.259769] NVRM: API mismatch: the client has the version 515.48.07, but",
    "               NVRM: this kernel module has the version 510.73.05.  Please",
    "NVRM: Xid (PCI:0000:ca:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
    "NVRM: Xid (PCI:0000:ca:00): 48, pid=1234, name=python, Ch 00000010",
    "NVRM: Xid (PCI:0000:ca:00): 13, pid=1234, name=python, Graphics Exception",
    "NVRM: The NVIDIA probe routine was not called for 3 device(s).",
    "[   23.991660] nvidia 0000:07:00.0: Direct firmware load for nvidia/570.144/gsp_ga10x.bin failed "
    "with error -2",
    "[   23.991672] NVRM: GPU 0000:07:00.0: RmInitAdapter failed! (0x61:0x56:1770)",
    "Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7",
]


def _synthetic() -> list[Evidence]:
    """Recorded failures of the lower layers that the scenario trees do not hold."""
    base = [
        FileRead(
            path="/proc/driver/nvidia/version",
            exists=True,
            content="NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build\n",
        ),
        FileRead(
            path="/proc/modules", exists=True, content="nvidia 1 0 - Live 0x0\nnouveau 1 0 - Live 0x0\n"
        ),
        Value(name="kernel_log", data={"source": "dmesg", "lines": KERNEL_LOG}),
        Value(
            name="pci_devices",
            data={
                "readable": True,
                "devices": [
                    {
                        "address": "0000:01:00.0",
                        "vendor": "0x10de",
                        "device": "0x1b80",
                        "class": "0x030000",
                        "driver": "nouveau",
                    },
                    {
                        "address": "0000:02:00.0",
                        "vendor": "0x10de",
                        "device": "0x2204",
                        "class": "0x030000",
                        "driver": None,
                    },
                ],
            },
        ),
        Value(
            name="device_nodes",
            data={
                "dev": True,
                "group_names": {"44": "video"},
                "nodes": [
                    {
                        "path": "/dev/nvidiactl",
                        "exists": True,
                        "kind": "char",
                        "mode": "0660",
                        "uid": 0,
                        "gid": 44,
                        "access": None,
                    },
                    {
                        "path": "/dev/nvidia0",
                        "exists": True,
                        "kind": "char",
                        "mode": "0600",
                        "uid": 0,
                        "gid": 0,
                        "access": None,
                    },
                ],
            },
        ),
        Value(
            name="nvml",
            data={
                "driver_version": "550.54.14",
                "errors": {},
                "gpus": [
                    {"index": 0, "name": "NVIDIA A30", "compute_cap": "8.0", "errors": {}},
                    {"index": 1, "handle_error": "NVMLError_Unknown: Unknown Error"},
                ],
            },
        ),
    ]
    no_nodes = [
        Value(name="device_nodes", data={"dev": True, "group_names": {}, "nodes": []}),
        FileRead(path="/proc/modules", exists=True, content="nvidia 1 0 - Live 0x0\n"),
        Value(name="nvml", error="NVMLError_NoPermission: Insufficient Permissions"),
    ]
    out = []
    for items in (base, no_nodes):
        ev = Evidence()
        ev.add(items)
        out.append(ev)
    return out


def _with_host(evidence: Evidence, name: str) -> Evidence:
    spec = HOSTS[name]
    ev = Evidence(items=dict(evidence.items), collectors=dict(evidence.collectors), meta=dict(evidence.meta))
    ev.add(
        [
            FileRead(path="/etc/os-release", exists=True, content=spec["os"]),
            Value(
                name="identity",
                data={
                    "uid": spec["uid"],
                    "gid": spec["uid"],
                    "groups": [spec["uid"]],
                    "user": "root" if spec["uid"] == 0 else "ana",
                    "group_names": {},
                },
            ),
            Value(
                name="container_markers",
                data={"/.dockerenv": bool(spec.get("container")), "/run/.containerenv": False},
            ),
            FileRead(path="/proc/1/cgroup", exists=True, content="0::/\n"),
        ]
    )
    if spec.get("wsl2"):
        ev.add([Value(name="wsl_markers", data={"/dev/dxg": True, "/usr/lib/wsl/lib": True})])
    return ev


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[Evidence]:
    """The evidence of every scenario, gathered through the real collectors, and the synthetic failures."""
    found = []
    for folder in sorted(p for p in SCENARIOS.iterdir() if p.is_dir()):
        expected = json.loads((folder / "expected.json").read_text())
        if expected.get("mode") == "namespace":
            continue
        work = tmp_path_factory.mktemp(folder.name)
        (work / "bin").mkdir()
        (work / "root").mkdir()
        env = materialise(folder, FakeBin(work / "bin"), work / "root")["_env"]
        opts = DoctorOptions(sysroot=str(work / "root"), env=env, timeout_s=20)
        found.append(gather(opts, CHECKS))
    return found + _synthetic()


def _remediations(evidence: list[Evidence], host: str) -> list[tuple[str, str]]:
    texts = []
    for ev in evidence:
        for finding in diagnose(_with_host(ev, host), CHECKS).findings:
            if finding.remediation:
                texts.append((finding.check, finding.remediation))
    return texts


@pytest.mark.parametrize("host", list(HOSTS))
def test_every_remediation_fits_the_host(recorded: list[Evidence], host: str) -> None:
    texts = _remediations(recorded, host)
    assert len({check for check, _ in texts}) >= 15, "too few remediations rendered to mean anything"
    for check, text in texts:
        for foreign in FOREIGN.get(host, ()):
            assert foreign not in text, f"{host}: {check} prints {foreign!r}: {text}"
        match = DRIVER_INSTALL.search(text)
        if host == "container" and match:
            assert text.find("On the host") != -1 and text.find("On the host") < match.start(), (
                f"{check}: {text}"
            )
        if host == "wsl2" and match and "remove" not in text[: match.start()].lower():
            assert text.startswith("In Windows"), f"{check}: {text}"


def test_the_driver_fix_for_each_host_names_its_own_package_manager(recorded: list[Evidence]) -> None:
    manager = {"ubuntu": "apt-get", "rhel": "dnf", "opensuse": "zypper", "arch": "pacman"}
    for host, command in manager.items():
        texts = " ".join(t for c, t in _remediations(recorded, host) if c == "driver.loaded")
        assert command in texts, host


def test_no_check_spells_a_package_manager_command() -> None:
    """Install and repair commands come from gpucheck/diagnose/advice.py only."""
    pattern = re.compile(r"apt-get|apt install|apt-cache|\bdnf |\byum |zypper |pacman -|dpkg -|rpm -q")
    offences = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(PACKAGE_DIR.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offences, "\n".join(offences)
