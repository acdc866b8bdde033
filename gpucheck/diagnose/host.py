"""Facts about the machine a fix will run on: distribution family, container, WSL2, root, rootless Docker.

``detect_host`` is a pure builder of ``Evidence`` (use it as ``facts.of(detect_host)``); ``advice.py`` turns
a ``Host`` into the exact commands. Every input is optional: a snapshot taken without the ``host`` collector
gives a ``Host`` whose family is ``unknown``, and advice then lists each family's command.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.proc import KernelFlavour, parse_proc_version

FAMILIES = ("apt", "dnf", "yum", "zypper", "pacman")
"""Package-manager families advice knows; ``other`` (a known distribution none fits) and ``unknown``
(no /etc/os-release) are the two others."""

_FAMILY_OF_ID: dict[str, str] = {
    "debian": "apt", "ubuntu": "apt", "linuxmint": "apt", "pop": "apt", "raspbian": "apt", "kali": "apt",
    "elementary": "apt", "zorin": "apt", "neon": "apt",
    "rhel": "dnf", "fedora": "dnf", "centos": "dnf", "rocky": "dnf", "almalinux": "dnf", "ol": "dnf",
    "amzn": "dnf", "nobara": "dnf",
    "opensuse": "zypper", "opensuse-leap": "zypper", "opensuse-tumbleweed": "zypper", "sles": "zypper",
    "suse": "zypper", "sled": "zypper",
    "arch": "pacman", "manjaro": "pacman", "endeavouros": "pacman", "garuda": "pacman", "cachyos": "pacman",
}  # fmt: skip
"""os-release ``ID`` (or an ``ID_LIKE`` entry) → package-manager family."""

_YUM_ERA = {"rhel": 8, "centos": 8, "ol": 8, "amzn": 2023}
"""Below this VERSION_ID major these distributions ship yum, not dnf (RHEL/CentOS 7, Amazon Linux 2)."""


@dataclass(frozen=True, slots=True)
class Host:
    """Where a remediation will be run."""

    family: str = "unknown"
    """``apt``, ``dnf``, ``yum``, ``zypper``, ``pacman``, ``other`` or ``unknown``."""
    distro_id: str = ""
    """os-release ``ID`` (``ubuntu``, ``rhel``, ``opensuse-tumbleweed``, ``arch``)."""
    version_id: str = ""
    """os-release ``VERSION_ID`` (``22.04``, ``9.4``); empty on rolling releases."""
    name: str = ""
    """os-release ``PRETTY_NAME`` (``Ubuntu 22.04.4 LTS``)."""
    container: str | None = None
    """The container runtime around gpucheck (``docker``, ``podman``, ``kubernetes``, ``containerd``)."""
    wsl2: bool = False
    root: bool | None = None
    """Whether the running user is root (None when unknown: advice then prefixes ``sudo``)."""
    rootless_docker: bool = False
    """Whether the Docker daemon this user talks to is a rootless one (``systemctl --user``)."""
    uid: int | None = None
    user: str = ""
    groups: tuple[str, ...] = ()
    """Names (or numbers, when unnamed) of the running user's groups."""
    gids: tuple[int, ...] = ()
    """The running user's group ids (primary and supplementary)."""

    @property
    def in_container(self) -> bool:
        """Whether gpucheck runs inside a container (driver and runtime fixes then belong on the host)."""
        return self.container is not None

    @property
    def like(self) -> str:
        """A short human name for the family (``Debian/Ubuntu``)."""
        return FAMILY_NAMES.get(self.family, self.name or "this distribution")


FAMILY_NAMES = {
    "apt": "Debian/Ubuntu",
    "dnf": "RHEL/Fedora",
    "yum": "RHEL/CentOS 7",
    "zypper": "openSUSE/SLES",
    "pacman": "Arch",
}


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5), quotes removed; comments and junk lines ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.replace("_", "").isalnum():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        values[key] = value
    return values


def family_of(os_release: dict[str, str]) -> str:
    """The package-manager family of an os-release mapping (``other`` when no known family fits)."""
    ids = [os_release.get("ID", "").lower(), *os_release.get("ID_LIKE", "").lower().split()]
    for distro in ids:
        family = _FAMILY_OF_ID.get(distro) or ("zypper" if distro.startswith("opensuse") else None)
        if family is None:
            continue
        floor = _YUM_ERA.get(ids[0]) if family == "dnf" else None
        major = os_release.get("VERSION_ID", "").split(".")[0]
        if floor is not None and major.isdigit() and int(major) < floor:
            return "yum"
        return family
    return "other" if ids[0] else "unknown"


def container_runtime(evidence: Evidence) -> str | None:
    """The container runtime around us (``docker``, ``podman``, ``kubernetes``, ``containerd``), or None."""
    markers = evidence.value("container_markers")
    found = markers.data if markers is not None and isinstance(markers.data, dict) else {}
    if found.get("/run/.containerenv"):
        return "podman"
    cgroup = evidence.file("/proc/1/cgroup")
    text = cgroup.content if cgroup is not None and cgroup.content else ""
    if "kubepods" in text or evidence.env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if found.get("/.dockerenv") or "docker" in text:
        return "docker"
    if "containerd" in text:
        return "containerd"
    return None


def _wsl2(evidence: Evidence) -> bool:
    item = evidence.file("/proc/version")
    markers = evidence.value("wsl_markers")
    if markers is not None and isinstance(markers.data, dict) and markers.data.get("/dev/dxg"):
        return True
    if item is None or not item.content:
        return False
    try:
        return parse_proc_version(item.content).flavour is KernelFlavour.WSL2
    except ParseError:
        return False


def _identity(evidence: Evidence) -> dict:
    item = evidence.value("identity")
    return item.data if item is not None and isinstance(item.data, dict) else {}


def _rootless_docker(evidence: Evidence, identity: dict) -> bool:
    """DOCKER_HOST names a per-user socket, or only the per-user socket exists."""
    docker_host = evidence.env.get("DOCKER_HOST", "")
    if docker_host.startswith("unix:///run/user/") or "/.docker/run/" in docker_host:
        return True
    if docker_host:
        return False
    sockets = identity.get("sockets") if isinstance(identity.get("sockets"), dict) else {}
    rootful = bool(sockets.get("/var/run/docker.sock"))
    user = any(v for k, v in sockets.items() if k.startswith("/run/user/"))
    return user and not rootful


def detect_host(evidence: Evidence) -> Host:
    """The host as far as the evidence tells (every field has a safe default)."""
    os_release: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        item = evidence.file(path)
        if item is not None and item.content:
            os_release = parse_os_release(item.content)
            break
    identity = _identity(evidence)
    uid = identity.get("uid") if isinstance(identity.get("uid"), int) else None
    names = identity.get("group_names") if isinstance(identity.get("group_names"), dict) else {}
    gids = tuple(g for g in identity.get("groups", ()) if isinstance(g, int))
    groups = tuple(str(names.get(str(g), g)) for g in gids)
    return Host(
        family=family_of(os_release) if os_release else "unknown",
        distro_id=os_release.get("ID", "").lower(),
        version_id=os_release.get("VERSION_ID", ""),
        name=os_release.get("PRETTY_NAME", "") or os_release.get("NAME", ""),
        container=container_runtime(evidence),
        wsl2=_wsl2(evidence),
        root=None if uid is None else uid == 0,
        rootless_docker=_rootless_docker(evidence, identity),
        uid=uid,
        user=str(identity.get("user") or ""),
        groups=groups,
        gids=gids,
    )
