"""The lower layers' checks on recorded evidence: per-GPU NVML errors, device-node permissions, a container
without GPUs, the PCI bus, the module flavour, the kernel log and the toolkit's config.toml."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pynvml
import pytest

from gpucheck.collect.evidence import CollectorStatus, Evidence, FileRead, Item, Value
from gpucheck.collect.registry import CollectContext, collect
from gpucheck.collect.sources.nvml import read_nvml
from gpucheck.collect.sysroot import Sysroot
from gpucheck.diagnose.checks.toolkit import cudart_soname
from gpucheck.diagnose.finding import Finding
from gpucheck.diagnose.parse.kernel_log import kernel_events
from gpucheck.diagnose.registry import select_checks
from gpucheck.pipeline import diagnose
from tests.collect.test_nvml_readings import NvmlStandIn

COLLECTORS = (
    "nvml", "nvidia_smi", "procfs", "device_nodes", "pci", "kernel_log", "toolkit_config", "host", "env",
    "container_markers", "wsl",
)  # fmt: skip
OPEN_550 = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build\n"
PROPRIETARY_550 = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"


def evidence(*items: Item) -> Evidence:
    ev = Evidence()
    for name in COLLECTORS:
        ev.collectors[name] = CollectorStatus(name=name, ok=True, duration_s=0.0)
    ev.add(items)
    return ev


def run(ev: Evidence, *only: str) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for f in diagnose(ev, select_checks(list(only))).findings:
        grouped.setdefault(f.check, []).append(f)
    return grouped


@dataclass
class OneGpuLost(NvmlStandIn):
    """Four GPUs; index 1's handle fails like https://github.com/NVIDIA/open-gpu-kernel-modules/issues/387."""

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802 - NVML's names
        return 4

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        if index == 1:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
        return index


def test_one_gpus_handle_error_is_that_gpus_problem_not_no_gpu() -> None:
    data = read_nvml(OneGpuLost())
    assert [g.get("handle_error", "") != "" for g in data["gpus"]] == [False, True, False, False]
    found = run(evidence(Value(name="nvml", data=data)), "gpu", "driver.loaded")
    assert found["gpu.present"][0].status.value == "pass" and "3 GPUs" in found["gpu.present"][0].summary
    (error,) = found["gpu.errors"]
    assert error.status.value == "fail"
    assert (
        "GPU 1: NVMLError_Unknown: Unknown Error" in error.summary
        and "other 3 GPU(s) answer" in error.summary
    )
    assert "nvidia-smi -r -i <index>" in error.remediation and "install" not in error.remediation.lower()
    assert found["driver.loaded"][0].status.value == "pass"


def test_nvidia_smi_lists_the_working_gpus_next_to_the_one_without_a_handle() -> None:
    """The error line verbatim from the thread; the CSV rows of the other GPUs are reconstructed."""
    stdout = (
        "index, name, uuid, pci.bus_id, driver_version\n"
        "0, NVIDIA GeForce RTX 2080 Ti, GPU-67a571b1-79ee-1016-8ea3-c1fff3f1c1d2, 00000000:0A:00.0, "
        "520.61.05\n"
        "Unable to determine the device handle for GPU 0000:0B:00.0: Unknown Error\n"
        "2, NVIDIA GeForce RTX 2080 Ti, GPU-2d540dd6-583b-cf11-80dd-cc28edc1dd62, 00000000:0C:00.0, "
        "520.61.05\n"
    )
    from gpucheck.collect.evidence import CommandRun

    argv = ("nvidia-smi", "--query-gpu=index,name,uuid,pci.bus_id,driver_version", "--format=csv,nounits")
    ev = evidence(
        Value(name="nvml", error="not probed"), CommandRun(argv=argv, returncode=255, stdout=stdout)
    )
    found = run(ev, "gpu.present", "gpu.errors")
    assert "2 GPUs" in found["gpu.present"][0].summary
    assert "GPU 0000:0B:00.0: Unknown Error" in found["gpu.errors"][0].summary


def node(path: str, mode: str, gid: int) -> dict:
    return {"path": path, "exists": True, "kind": "char", "mode": mode, "uid": 0, "gid": gid, "access": None}


NODES = [
    node("/dev/nvidiactl", "0660", 44),
    node("/dev/nvidia0", "0660", 44),
    node("/dev/nvidia-uvm", "0666", 0),
]


def test_insufficient_permissions_lands_on_the_device_nodes_with_the_group_to_join() -> None:
    ev = evidence(
        FileRead(path="/proc/driver/nvidia/version", exists=True, content=PROPRIETARY_550),
        FileRead(path="/etc/os-release", exists=True, content="ID=opensuse-leap\nVERSION_ID=15.5\n"),
        Value(name="nvml", error="NVMLError_NoPermission: Insufficient Permissions"),
        Value(name="device_nodes", data={"dev": True, "nodes": NODES, "group_names": {"44": "video"}}),
        Value(
            name="identity",
            data={"uid": 1000, "user": "tobias", "groups": [100], "group_names": {"100": "users"}},
        ),
    )
    found = run(ev, "driver", "gpu")
    (nodes,) = found["driver.device_nodes"]
    assert nodes.status.value == "fail" and nodes.caused_by == ()
    assert "user tobias (groups: users) cannot open /dev/nvidiactl (0660 root:video)" in nodes.summary
    assert "sudo usermod -aG video tobias" in nodes.remediation
    assert found["driver.loaded"][0].status.value == "pass"
    assert "install" not in " ".join(f.remediation for fs in found.values() for f in fs).lower()
    assert found["gpu.present"][0].caused_by == ("driver.device_nodes",)


def test_a_container_started_without_gpus_is_fixed_on_the_host() -> None:
    ev = evidence(
        Value(name="container_markers", data={"/.dockerenv": True, "/run/.containerenv": False}),
        Value(name="device_nodes", data={"dev": True, "nodes": [], "group_names": {}}),
        Value(name="nvml", error="NVMLError_LibraryNotFound: NVML Shared Library Not Found"),
        Value(name="identity", data={"uid": 0, "groups": [0]}),
        FileRead(path="/etc/os-release", exists=True, content="ID=ubuntu\nVERSION_ID=22.04\n"),
    )
    found = run(ev, "driver", "gpu")
    nodes, loaded = found["driver.device_nodes"][0], found["driver.loaded"][0]
    assert nodes.status.value == "fail" and "started without GPUs" in nodes.summary
    assert nodes.remediation.startswith("On the host, not inside this docker container")
    assert "--gpus all" in nodes.remediation and "nvidia.com/gpu" in nodes.remediation
    assert loaded.caused_by == ("driver.device_nodes",)
    assert loaded.remediation.startswith("On the host")


def pci(*devices: dict) -> Value:
    return Value(name="pci_devices", data={"readable": True, "devices": list(devices)})


GPU = {"address": "0000:01:00.0", "vendor": "0x10de", "device": "0x1b80", "class": "0x030000"}
AUDIO = {
    "address": "0000:01:00.1",
    "vendor": "0x10de",
    "device": "0x10f0",
    "class": "0x040300",
    "driver": None,
}


@pytest.mark.parametrize(
    ("devices", "modules", "status", "needle"),
    [
        ((), "", "fail", "no NVIDIA GPU on the PCI bus"),
        ((AUDIO,), "", "fail", "no NVIDIA GPU on the PCI bus"),
        (({**GPU, "driver": "nouveau"},), "nouveau 1 0 - Live 0x0\n", "fail", "nouveau, not nvidia, drives"),
        (
            ({**GPU, "driver": None},),
            "nvidia 1 0 - Live 0x0\n",
            "fail",
            "claimed none of 0000:01:00.0 [10de:1b80]",
        ),
        (({**GPU, "driver": "vfio-pci"},), "", "warn", "vfio-pci"),
        (({**GPU, "driver": "nvidia"}, AUDIO), "nvidia 1 0 - Live 0x0\n", "pass", "driven by nvidia"),
    ],
)
def test_pci_layer(devices: tuple, modules: str, status: str, needle: str) -> None:
    ev = evidence(pci(*devices), FileRead(path="/proc/modules", exists=True, content=modules))
    (finding,) = run(ev, "driver.pci_devices")["driver.pci_devices"]
    assert finding.status.value == status and needle in finding.summary


def test_no_gpu_on_the_bus_is_the_root_of_everything_above() -> None:
    found = run(evidence(pci()), "driver", "gpu")
    assert found["driver.pci_devices"][0].caused_by == ()
    assert found["driver.loaded"][0].caused_by == ("driver.pci_devices",)
    assert found["gpu.present"][0].caused_by == ("driver.pci_devices",)


@pytest.mark.parametrize(
    ("version", "cc", "status", "flavour"),
    [
        (OPEN_550, "6.1", "fail", False),
        (PROPRIETARY_550, "12.0", "fail", True),
        (OPEN_550, "8.6", "pass", None),
    ],
)
def test_module_flavour_against_the_gpu(version: str, cc: str, status: str, flavour: bool | None) -> None:
    ev = evidence(
        FileRead(path="/proc/driver/nvidia/version", exists=True, content=version),
        FileRead(path="/etc/os-release", exists=True, content="ID=ubuntu\n"),
        Value(
            name="nvml",
            data={"driver_version": "550.54.14", "gpus": [{"index": 0, "name": "G", "compute_cap": cc}]},
        ),
    )
    (finding,) = run(ev, "driver.module_flavour")["driver.module_flavour"]
    assert finding.status.value == status
    if flavour is not None:
        assert ("nvidia-driver-550-open" in finding.remediation) is flavour
        assert ("nvidia-driver-550`" in finding.remediation) is (not flavour)


def test_kernel_log_events_from_verbatim_lines() -> None:
    # https://github.com/negativo17/nvidia-driver/issues/158 and ansible-slurm-appliance#287 (syslog)
    lines = [
        "kernel: NVRM: The NVIDIA GPU 0000:09:00.0 (PCI ID: 10de:1d01)",
        "             NVRM: installed in this system is not supported by open",
        "             NVRM: nvidia.ko because it does not include the required GPU",
        "Jun 30 11:07:05 gpu-0 kernel: NVRM: API mismatch: the client has the version 535.54.03, "
        "but#012NVRM: this kernel module has the version 530.30.02.  Please#012NVRM: make sure that "
        "this kernel module",
        "[ 1.0] NVRM: Xid (PCI:0000:ca:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
    ]
    kinds = {(e.kind, e.detail) for e in kernel_events(lines)}
    assert ("open_unsupported", "10de:1d01") in kinds
    assert ("api_mismatch", "client 535.54.03 / kernel module 530.30.02") in kinds
    assert ("xid", "79") in kinds and ("fallen_off_bus", "") in kinds


def test_kernel_log_that_cannot_be_read_is_a_skip() -> None:
    ev = evidence(Value(name="kernel_log", error="permission denied: dmesg: permission denied"))
    (finding,) = run(ev, "driver.kernel_log")["driver.kernel_log"]
    assert finding.status.value == "skip" and "sudo dmesg" in finding.summary


def test_kernel_log_open_module_refusal_asks_for_the_proprietary_flavour_on_fedora() -> None:
    ev = evidence(
        Value(name="kernel_log", data={"source": "dmesg", "lines": [
            "NVRM: The NVIDIA GPU 0000:09:00.0 (PCI ID: 10de:1d01)",
            "NVRM: installed in this system is not supported by open",
        ]}),
        FileRead(path="/etc/os-release", exists=True, content='ID=fedora\nVERSION_ID="40"\n'),
        FileRead(path="/proc/driver/nvidia/version", exists=True, content=OPEN_550),
    )  # fmt: skip
    (finding,) = run(ev, "driver.kernel_log")["driver.kernel_log"]
    assert finding.status.value == "fail" and "10de:1d01" in finding.summary
    assert "dnf install -y cuda-drivers" in finding.remediation and "apt" not in finding.remediation


def test_toolkit_config_with_debians_ldconfig_on_another_distribution(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "etc/nvidia-container-runtime").mkdir(parents=True)
    (root / "etc/nvidia-container-runtime/config.toml").write_text(
        '[nvidia-container-cli]\nldconfig = "@/sbin/ldconfig.real"\nload-kmods = true\n'
    )
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/ldconfig").write_text("")
    ev = collect(CollectContext(sysroot=Sysroot(str(root))), ["toolkit_config", "host"])
    (finding,) = run(ev, "container.toolkit_config")["container.toolkit_config"]
    assert (
        finding.status.value == "fail" and "/sbin/ldconfig.real: no such file or directory" in finding.summary
    )
    assert "nvidia-container-cli.ldconfig=@/usr/sbin/ldconfig" in finding.remediation


def test_host_collector_reads_the_user_from_the_tree(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "proc/self/status").write_text(
        "Name:\tpython\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t44 1000 \n"
    )
    (root / "etc/group").write_text("video:x:44:tobias\ntobias:x:1000:\n")
    (root / "etc/passwd").write_text("tobias:x:1000:1000::/home/tobias:/bin/bash\n")
    ev = collect(CollectContext(sysroot=Sysroot(str(root))), ["host"])
    assert ev.value("identity").data | {"sockets": {}} == {
        "uid": 1000, "gid": 1000, "user": "tobias", "groups": [44, 1000],
        "group_names": {"44": "video", "1000": "tobias"}, "sockets": {},
    }  # fmt: skip


def test_device_node_collector_records_mode_and_owner(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    node = root / "dev/nvidia0"
    node.write_text("")
    node.chmod(0o640)
    ev = collect(CollectContext(sysroot=Sysroot(str(root))), ["device_nodes"])
    (recorded,) = ev.value("device_nodes").data["nodes"]
    assert recorded | {"uid": 0, "gid": 0} == {
        "path": "/dev/nvidia0", "exists": True, "kind": "file", "mode": "0640", "uid": 0, "gid": 0,
        "rdev": None, "access": None,
    }  # fmt: skip
    assert recorded["uid"] == os.getuid()


@pytest.mark.parametrize(
    ("version", "soname"),
    [("10.1", "libcudart.so.10.1"), ("10.2", "libcudart.so.10.2"), ("11.0", "libcudart.so.11.0"),
     ("11.8", "libcudart.so.11.0"), ("12.4", "libcudart.so.12"), ("13.0", "libcudart.so.13")],
)  # fmt: skip
def test_cudart_soname(version: str, soname: str) -> None:
    assert cudart_soname(version) == soname


def test_an_integrated_gpu_is_not_missing_from_the_pci_bus() -> None:
    """Jetson's GPU is on the SoC: no PCI function, yet the driver answers; that is not a root cause."""
    nvml = Value(name="nvml", data={"driver_version": "540.4.0", "gpus": [{"index": 0, "name": "Orin"}]})
    (finding,) = run(evidence(pci(), nvml), "driver.pci_devices")["driver.pci_devices"]
    assert finding.status.value == "pass" and "integrated" in finding.summary
