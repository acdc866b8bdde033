"""The container layer's remediation texts, one per known failure, so the checks stay short.

Every text names the exact command. Sources: NVIDIA's install guide
(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), the failure
corpus in doctor-anchors.md (F09, F27, F30, F31) and the errors recorded in docker.md (A4, B4).
"""

from __future__ import annotations

from gpucheck.diagnose import advice
from gpucheck.diagnose.driver_choice import choose_driver, render_driver_install
from gpucheck.diagnose.host import Host
from gpucheck.diagnose.parse.docker_daemon import SmokeFailure
from gpucheck.knowledge import load

INSTALL_GUIDE = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
RESTART = "sudo systemctl restart docker (rootless Docker: systemctl --user restart docker)"
CONFIGURE = (
    "gpucheck setup docker --apply (the same edit as `sudo nvidia-ctk runtime configure --runtime=docker`), "
    f"then {RESTART}"
)
GENERATE_CDI = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
_CDI_REFRESH = load.container_facts()["toolkit_cdi_refresh"]
CDI_REFRESH = (
    f"with NVIDIA Container Toolkit >= {_CDI_REFRESH.since}, nvidia-cdi-refresh regenerates "
    f"{_CDI_REFRESH.value} itself: `sudo systemctl restart nvidia-cdi-refresh.service`"
)
DOCKER_GROUP = (
    "sudo usermod -aG docker $USER, then log out and back in (or run `newgrp docker` in this shell) "
    "so the new group applies"
)
START_DOCKER = (
    "sudo systemctl start docker (and `sudo systemctl enable docker` to start it at boot; rootless Docker: "
    "systemctl --user start docker); if the daemon listens elsewhere, set DOCKER_HOST to its socket, "
    "e.g. export DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock"
)
TOOLKIT_PACKAGES: advice.Packages = {
    family: ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
             "libnvidia-container1"]
    for family in ("apt", "dnf", "zypper")
} | {"pacman": ["nvidia-container-toolkit", "libnvidia-container"]}  # fmt: skip
"""Every package of the toolkit, for a reinstall of a partial one (Arch splits it in two)."""


def install_toolkit(host: Host) -> str:
    """Install the toolkit where dockerd runs, then configure Docker for it."""
    return f"{advice.container_toolkit_install(host)}, then {CONFIGURE}"


def reinstall_toolkit(host: Host) -> str:
    """Reinstall every toolkit package (a partial or broken install)."""
    packages = advice.install_packages(advice.host_side(host), TOOLKIT_PACKAGES, guide=INSTALL_GUIDE)
    return advice.on_host(host, f"reinstall the toolkit: {packages}")


def nvml_library(host: Host) -> str:
    """The toolkit cannot load the host's libnvidia-ml.so.1: the driver is missing or not in ld.so.cache."""
    side = advice.host_side(host)
    return advice.on_host(
        host,
        f"{render_driver_install(choose_driver(None), side)} Then check that "
        f"`ldconfig -p | grep libnvidia-ml.so.1` lists it; run `{advice.sudo(side, 'ldconfig')}` if the "
        "driver lives outside the linker cache",
    )


PERSISTENCE = (
    "Enable persistence mode: `sudo nvidia-smi -pm 1` "
    "(or `sudo systemctl enable --now nvidia-persistenced`); "
    "if it persists, look for Xid errors with `sudo dmesg | grep -i xid`"
)


def smoke_remedies(host: Host) -> dict[SmokeFailure, tuple[str, str]]:
    """Failure → (cause, remediation) templates for this host; ``smoke_remedy`` fills them in."""
    return {
    SmokeFailure.NO_GPU_DEVICE_DRIVER: (
        "dockerd has no device driver for `--gpus`: the NVIDIA Container Toolkit is missing, or Docker was "
        "not restarted after installing it (Docker from snap is not supported)",
        install_toolkit(host),
    ),
    SmokeFailure.UNKNOWN_RUNTIME: ("dockerd does not know the runtime '{detail}'", CONFIGURE),
    SmokeFailure.RUNTIME_NOT_FOUND: (
        "daemon.json names the runtime executable '{detail}', which is not on dockerd's PATH",
        install_toolkit(host) + "; or point the runtime at its absolute path: gpucheck setup docker "
        "--runtime-path /usr/bin/nvidia-container-runtime --apply",
    ),
    SmokeFailure.CUDA_REQUIREMENT: (
        "the image {image} requires CUDA >= {detail}, newer than the host driver supports",
        "Upgrade the host driver to one supporting CUDA {detail}, or pick an image whose CUDA version is at "
        "most the `CUDA Version` that `nvidia-smi` prints (e.g. --smoke-image "
        "nvidia/cuda:12.0.1-base-ubuntu22.04)",
    ),
    SmokeFailure.NVML_NOT_LOADABLE: (
        "the toolkit could not load libnvidia-ml.so.1 from the host: the driver is missing or not in the "
        "linker cache",
        nvml_library(host),
    ),
    SmokeFailure.DRIVER_TIMEOUT: ("the driver did not answer the toolkit in time", PERSISTENCE),
    SmokeFailure.CDI_UNRESOLVABLE: (
        "the CDI device {detail} is not in any spec dockerd read",
        GENERATE_CDI + ", then " + RESTART + " (" + CDI_REFRESH + ")",
    ),
    SmokeFailure.IMAGE_UNAVAILABLE: (
        "the image {image} is not present and could not be pulled",
        "docker pull {image} (or pass a local CUDA image with --smoke-image IMAGE)",
    ),
    SmokeFailure.NVIDIA_SMI_FAILED: (
        "the container started but nvidia-smi failed inside it",
        "Compare with `nvidia-smi` on the host; if the host works, regenerate the toolkit's view: "
        + GENERATE_CDI
        + " and "
        + RESTART,
    ),
    SmokeFailure.OTHER: (
        "the GPU container failed with an error gpucheck does not recognise",
        "docker run --rm --gpus all {image} nvidia-smi, and read the daemon log: sudo journalctl -u docker",
    ),
    }  # fmt: skip


def smoke_remedy(failure: SmokeFailure, detail: str, image: str, host: Host | None = None) -> tuple[str, str]:
    """What a smoke failure means and the exact fix, as (cause, remediation)."""
    remedies = smoke_remedies(host or Host())
    cause, remedy = remedies.get(failure, remedies[SmokeFailure.OTHER])
    values = {"detail": detail or "nvidia", "image": image}
    # NOTE: str.replace, not str.format: an image name or a path could hold literal braces
    for key, value in values.items():
        cause, remedy = cause.replace("{" + key + "}", value), remedy.replace("{" + key + "}", value)
    return cause, remedy
