"""The one place that turns "what to install or repair" into the command for the host it will run on.

Checks say *what* is needed (packages per family, a driver branch, a service restart); this module says *how*
on this host: ``apt-get`` / ``dnf`` / ``yum`` / ``zypper`` / ``pacman``, ``sudo`` only when not root,
"on the host, not in this container" inside a container, "in Windows" on WSL2, ``systemctl --user`` for
rootless Docker. No check spells a package-manager command itself (tests/diagnose/test_advice.py renders every
remediation for several hosts and enforces it).

Sources: NVIDIA's driver installation guide
(https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/), the CUDA installation guide for Linux
(https://docs.nvidia.com/cuda/cuda-installation-guide-linux/), the container toolkit install guide
(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), the CUDA on
WSL user guide (https://docs.nvidia.com/cuda/wsl-user-guide/) and each distribution's NVIDIA wiki page
(https://wiki.archlinux.org/title/NVIDIA, https://en.opensuse.org/SDB:NVIDIA_drivers,
https://help.ubuntu.com/community/NvidiaDriversInstallation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gpucheck.diagnose.host import FAMILIES, FAMILY_NAMES, Host

DRIVER_GUIDE = "https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"
CUDA_GUIDE = "https://docs.nvidia.com/cuda/cuda-installation-guide-linux/"
TOOLKIT_GUIDE = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
WINDOWS_DRIVER = "https://www.nvidia.com/Download/index.aspx"
WSL_GUIDE = "https://docs.nvidia.com/cuda/wsl-user-guide/"

Packages = Mapping[str, Sequence[str]]
"""Package names by family: ``{"apt": [...], "dnf": [...], "zypper": [...], "pacman": [...]}``; ``dnf``
names serve ``yum`` hosts unless ``yum`` is given."""

_INSTALL = {
    "apt": "apt-get install -y",
    "dnf": "dnf install -y",
    "yum": "yum install -y",
    "zypper": "zypper --non-interactive install",
    "pacman": "pacman -S --needed --noconfirm",
}
_REMOVE = {
    "apt": "apt-get remove --purge -y",
    "dnf": "dnf remove -y",
    "yum": "yum remove -y",
    "zypper": "zypper --non-interactive remove",
    "pacman": "pacman -Rns --noconfirm",
}


def host_side(host: Host) -> Host:
    """The host a host-side fix is rendered for (from a container: unknown, so every family, with sudo)."""
    return Host(family="unknown") if host.in_container else host


def sudo(host: Host, command: str) -> str:
    """``command`` as the running user can run it: unchanged for root, else prefixed with ``sudo``."""
    return command if host.root else f"sudo {command}"


def _names(packages: Packages, family: str) -> Sequence[str] | None:
    names = packages.get(family)
    if names is None and family == "yum":
        names = packages.get("dnf")
    return names


def _quote(name: str) -> str:
    return f"'{name}'" if any(c in name for c in "*?[]$") else name


def _for_families(host: Host, render) -> str:
    """Each known family's form of a command, labelled; for a host whose distribution is unknown."""
    parts = []
    for family in ("apt", "dnf", "zypper", "pacman"):
        text = render(family)
        if text:
            parts.append(f"{FAMILY_NAMES[family]}: {text}")
    return "; ".join(parts)


def _package_command(host: Host, packages: Packages, table: Mapping[str, str], guide: str) -> str:
    def render(family: str) -> str:
        names = _names(packages, family)
        if not names:
            return ""
        return f"`{sudo(host, table[family] + ' ' + ' '.join(_quote(n) for n in names))}`"

    if host.family in FAMILIES:
        text = render(host.family)
        return text or f"see {guide} for {host.like}"
    if host.family == "unknown":
        return _for_families(host, render) or f"see {guide}"
    return f"see {guide} ({host.name or host.distro_id or 'this distribution'} has no packaged form here)"


def install_packages(host: Host, packages: Packages, *, guide: str = CUDA_GUIDE) -> str:
    """The install command for this host's family (all families, labelled, when it is unknown).

    Packages go where gpucheck runs: inside a container that is the image, which is right for user-space
    libraries (a CUDA toolkit, cuDNN) and wrong for a driver: use ``driver_install`` or ``on_host`` there.
    """
    return _package_command(host, packages, _INSTALL, guide)


def remove_packages(host: Host, packages: Packages, *, guide: str = CUDA_GUIDE) -> str:
    """The removal command for this host's family."""
    return _package_command(host, packages, _REMOVE, guide)


def on_host(host: Host, text: str) -> str:
    """A fix that belongs to the machine itself, said to be for the host when gpucheck runs in a container."""
    if host.in_container:
        return (
            f"On the host, not inside this {host.container} container (it cannot be fixed from here): {text}"
        )
    return text


def in_windows(text: str) -> str:
    """A fix that runs in Windows, for a WSL2 distro."""
    return f"In Windows (WSL2 uses the Windows NVIDIA driver): {text}"


def _driver_packages(branch: str, open_modules: bool | None, host: Host) -> Packages:
    """Driver packages for ``branch`` per family (Ubuntu's archive, NVIDIA's CUDA repository elsewhere)."""
    suffix = "-open" if open_modules else ""
    debian = host.distro_id == "debian"
    rhel_like = host.distro_id in ("rhel", "rocky", "almalinux", "centos", "ol")
    rhel_modular = rhel_like and host.version_id.split(".")[0] in ("8", "9")
    if rhel_modular:
        dnf = [f"@nvidia-driver:{branch}-{'open' if open_modules else 'dkms'}"]
    else:
        dnf = ["nvidia-open" if open_modules else "cuda-drivers"]
    return {
        "apt": [f"nvidia-open-{branch}" if open_modules else f"cuda-drivers-{branch}"]
        if debian
        else [f"nvidia-driver-{branch}{suffix}"],
        "dnf": dnf,
        "yum": ["nvidia-driver-latest-dkms"],
        "zypper": [
            "nvidia-open-driver-G06-signed-kmp-default" if open_modules else "nvidia-driver-G06-kmp-default",
            "nvidia-compute-utils-G06",
        ],
        "pacman": ["nvidia-open" if open_modules is not False else "nvidia", "nvidia-utils"],
    }


def _driver_note(host: Host, branch: str) -> str:
    if host.family in ("dnf", "yum") and host.distro_id != "fedora":
        return f" (from NVIDIA's CUDA repository, {DRIVER_GUIDE})"
    if host.distro_id == "fedora":
        return f" (NVIDIA's CUDA repository, {DRIVER_GUIDE}; or RPM Fusion's `akmod-nvidia`)"
    if host.family == "zypper":
        return f" (from NVIDIA's openSUSE repository, {DRIVER_GUIDE})"
    if host.family == "pacman":
        return f" (Arch packages the newest branch; older branches such as {branch} are in the AUR)"
    if host.distro_id == "debian":
        return f" (from NVIDIA's CUDA repository, {DRIVER_GUIDE})"
    return ""


def driver_install(host: Host, branch: str, *, open_modules: bool | None = None, why: str = "") -> str:
    """How to install NVIDIA driver ``branch`` (``580``) here, with open or proprietary kernel modules.

    ``open_modules``: True for the open GPU kernel modules (required from Blackwell on, recommended from
    Turing), False for the proprietary ones (Maxwell, Pascal, Volta), None for the package's default.
    Inside a container it says the driver belongs on the host; on WSL2 it points to Windows.
    """
    if host.wsl2:
        return in_windows(
            f"install or update the NVIDIA driver (branch {branch} or newer{why}) from {WINDOWS_DRIVER}, "
            "then run `wsl --shutdown` in PowerShell; never install a Linux NVIDIA driver inside the WSL2 "
            f"distro ({WSL_GUIDE})"
        )
    flavour = {True: "open kernel modules", False: "proprietary kernel modules", None: ""}[open_modules]
    what = f"the NVIDIA driver {branch} branch or newer" + (f", {flavour}" if flavour else "") + why
    if host.in_container:
        bare = Host(family="unknown")
        packages = _package_command(
            bare, _driver_packages(branch, open_modules, bare), _INSTALL, DRIVER_GUIDE
        )
        return on_host(
            host,
            f"install {what} ({packages}; then `sudo reboot`), then restart this container with the GPUs "
            "passed in (`docker run --gpus all ...`, or a CDI device `--device nvidia.com/gpu=all`).",
        )
    packages = _package_command(host, _driver_packages(branch, open_modules, host), _INSTALL, DRIVER_GUIDE)
    reboot = f"`{sudo(host, 'reboot')}`"
    return f"Install {what}: {packages}{_driver_note(host, branch)}, then {reboot}."


def kernel_module_rebuild(host: Host) -> str:
    """Rebuild the NVIDIA kernel module for the running kernel (after a kernel update without DKMS)."""
    if host.wsl2:
        return in_windows(f"WSL2 has no NVIDIA kernel module; update the Windows driver ({WINDOWS_DRIVER}).")
    where, host = host, host_side(host)
    headers: Packages = {
        "apt": ["dkms", "linux-headers-$(uname -r)"],
        "dnf": ["dkms", "kernel-devel-$(uname -r)", "kernel-headers"],
        "zypper": ["dkms", "kernel-default-devel"],
        "pacman": ["dkms", "linux-headers"],
    }

    def render(family: str) -> str:
        install = _INSTALL[family] + " " + " ".join(_names(headers, family) or ())
        return f"`{sudo(host, install)} && {sudo(host, 'dkms autoinstall')} && {sudo(host, 'reboot')}`"

    if host.family in FAMILIES:
        text = render(host.family)
    elif host.family == "unknown":
        text = _for_families(host, render)
    else:
        rebuild = sudo(host, "dkms autoinstall")
        text = f"install your kernel's headers and dkms, then `{rebuild}` ({DRIVER_GUIDE})"
    return on_host(where, text)


def rebuild_initramfs(host: Host) -> str:
    """The command that regenerates the initramfs on this host's family."""
    table = {
        "apt": "update-initramfs -u",
        "dnf": "dracut --force",
        "yum": "dracut --force",
        "zypper": "dracut --force",
        "pacman": "mkinitcpio -P",
    }
    if host.family in table:
        return f"`{sudo(host, table[host.family])}`"
    return _for_families(host, lambda family: f"`{sudo(host, table[family])}`")


def blacklist_nouveau(host: Host) -> str:
    """Stop nouveau from claiming the GPU, then reboot."""
    where, host = host, host_side(host)
    write = sudo(host, "tee /etc/modprobe.d/blacklist-nouveau.conf")
    conf = "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n'"
    text = (
        f"Blacklist nouveau and reboot: `{conf} | {write}`, "
        f"then {rebuild_initramfs(host)} and `{sudo(host, 'reboot')}`; then install the NVIDIA driver."
    )
    return on_host(where, text)


def restart_docker(host: Host) -> str:
    """Restart the Docker daemon this user talks to (``systemctl --user`` for rootless Docker)."""
    if host.rootless_docker:
        return "`systemctl --user restart docker`"
    return f"`{sudo(host, 'systemctl restart docker')}` (rootless Docker: `systemctl --user restart docker`)"


def container_toolkit_install(host: Host) -> str:
    """Install the NVIDIA Container Toolkit where the container engine runs (the host, from a container)."""
    packages = install_packages(
        host_side(host),
        {
            "apt": ["nvidia-container-toolkit"],
            "dnf": ["nvidia-container-toolkit"],
            "zypper": ["nvidia-container-toolkit"],
            "pacman": ["nvidia-container-toolkit"],
        },
        guide=TOOLKIT_GUIDE,
    )
    repo = "" if host.family == "pacman" else f"add NVIDIA's package repository ({TOOLKIT_GUIDE}), then "
    return on_host(host, f"{repo}{packages}")


def join_group(host: Host, group: str) -> str:
    """Add the running user to ``group``, effective at the next login."""
    who = host.user or "$USER"
    side = host_side(host)
    return on_host(
        host, f"`{sudo(side, f'usermod -aG {group} {who}')}`, then log out and back in (or `newgrp {group}`)"
    )


def remove_owner_of(host: Host, path: str, packages: Packages) -> str:
    """Remove the distribution package that installed ``path`` (``packages`` names it where known)."""
    known = _names(packages, host.family) if host.family in FAMILIES else None
    if known:
        return remove_packages(host, packages)
    query = {
        "apt": "dpkg -S",
        "dnf": "rpm -qf",
        "yum": "rpm -qf",
        "zypper": "rpm -qf",
        "pacman": "pacman -Qo",
    }
    if host.family in query:
        return f"find its package with `{query[host.family]} {path}` and remove it"
    return (
        remove_packages(host, packages)
        if host.family == "unknown"
        else f"remove the package that owns {path}"
    )


def cuda_packages(component: str, version: str) -> Packages:
    """NVIDIA's CUDA repository package for a toolkit component (``cudart``, ``toolkit``) of ``version``.

    The same names on every family NVIDIA packages for (``cuda-cudart-12-4``, ``cuda-toolkit-12-4``); Arch's
    ``cuda`` package holds the newest toolkit only.
    """
    dashed = version.replace(".", "-")
    name = f"cuda-{component}-{dashed}"
    return {"apt": [name], "dnf": [name], "zypper": [name], "pacman": ["cuda"]}


def userspace_packages(branch: str) -> Packages:
    """The driver's userspace (nvidia-smi, libnvidia-ml, libcuda) per family, for ``branch``."""
    return {
        "apt": [f"nvidia-utils-{branch}", f"libnvidia-compute-{branch}"],
        "dnf": ["nvidia-driver-cuda", "nvidia-driver-cuda-libs"],
        "zypper": ["nvidia-compute-utils-G06", "nvidia-compute-G06"],
        "pacman": ["nvidia-utils"],
    }


def cudnn_packages(cuda_major: str) -> Packages:
    """CuDNN 9 for a CUDA major from NVIDIA's repository (Arch: its ``cudnn`` package)."""
    name = f"cudnn9-cuda-{cuda_major}"
    return {"apt": [name], "dnf": [name], "zypper": [name], "pacman": ["cudnn"]}


def wsl_purge_linux_driver(host: Host) -> str:
    """Remove a Linux NVIDIA driver installed inside a WSL2 distro (WSL2 uses the Windows driver)."""
    remove = remove_packages(
        host,
        {
            "apt": ["nvidia-driver-*", "nvidia-utils-*", "libnvidia-compute-*"],
            "dnf": ["nvidia-driver*", "xorg-x11-drv-nvidia*"],
            "zypper": ["nvidia-compute-G06", "nvidia-compute-utils-G06", "nvidia-video-G06"],
            "pacman": ["nvidia-utils"],
        },
        guide=WSL_GUIDE,
    )
    return (
        f"Remove the Linux driver from the distro (WSL2 uses the Windows driver): {remove}; install only the "
        "WSL-Ubuntu `cuda-toolkit-12-x` package (never `cuda` or `cuda-drivers`); use "
        "/usr/lib/wsl/lib/nvidia-smi."
    )


def list_driver_branches(host: Host) -> str:
    """The command that lists the driver branches this host's repositories offer."""
    table = {
        "apt": "apt-cache search nvidia-driver-",
        "dnf": "dnf module list nvidia-driver",
        "yum": "yum list available 'nvidia-driver*'",
        "zypper": "zypper search nvidia-driver",
        "pacman": "pacman -Ss '^nvidia'",
    }
    if host.family in table:
        return f"`{table[host.family]}`"
    return _for_families(host, lambda family: f"`{table[family]}`")


def userspace_install(host: Host, branch: str) -> str:
    """Install the driver's userspace (nvidia-smi, libcuda, libnvidia-ml) matching kernel module ``branch``.

    In a container the runtime mounts it in from the host; on WSL2 the Windows driver provides it.
    """
    if host.wsl2:
        return in_windows(
            "the Windows driver provides nvidia-smi and libcuda under /usr/lib/wsl/lib: update it from "
            f"{WINDOWS_DRIVER} and run `wsl --shutdown`; install no Linux driver userspace in the distro"
        )
    if host.in_container:
        return on_host(
            host,
            "start the container with its GPUs (`docker run --gpus all ...`, or "
            "`-e NVIDIA_DRIVER_CAPABILITIES=compute,utility` for nvidia-smi) so the runtime mounts the host "
            "driver's userspace in",
        )
    packages = install_packages(host, userspace_packages(branch), guide=DRIVER_GUIDE)
    return f"Install the userspace driver matching the kernel module: {packages}."
