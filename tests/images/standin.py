"""A stand-in for an nvidia/cuda base image with Python, assembled offline from this machine's Debian files.

No registry is reachable, so the image tests cannot pull ``nvidia/cuda``. What the template needs from its
base is a shell, ``python3`` with ``pip`` and ``useradd``; this module puts exactly those into a root
filesystem tarball: busybox-static, Debian's python3.11 (its dpkg file lists), the shared libraries
``ldd`` names for them, and the pure-Python ``pip`` package of the interpreter running the tests.
Deterministic: sorted names, mtime 0, owner root, so two calls give the same bytes.
Skips with the reason when a piece is missing.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

from tests.docker_engine import BUSYBOX, require_capability

# glibc and libgcc whole: compiled wheels (manylinux) load librt, libpthread... that ldd of python
# cannot list.
DEB_PACKAGES = ("libc6", "libgcc-s1", "libpython3.11-minimal", "libpython3.11-stdlib", "python3.11-minimal")
EXECUTABLES = ("/usr/bin/python3.11", "/usr/sbin/useradd", "/usr/sbin/groupadd")
ETC_FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": b"root:x:0:\n",
    "etc/shadow": b"root:*:19000:0:99999:7:::\n",
    "etc/gshadow": b"root:*::\n",
}
LDD_PATH_RE = re.compile(r"(/\S+) \(0x")


def _dpkg_files(package: str) -> list[Path]:
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if out.returncode != 0:
        require_capability(f"the stand-in base needs Debian's {package} installed: {out.stderr.strip()}")
    return [Path(p) for p in out.stdout.splitlines() if "__pycache__" not in p and Path(p).is_file()]


def _shared_libraries(paths: list[Path]) -> set[Path]:
    libs: set[Path] = set()
    for path in paths:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        libs.update(Path(m) for m in LDD_PATH_RE.findall(out.stdout))
    return libs


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
    tar.addfile(info)


def _collect(pip_dir: Path) -> dict[str, tuple[bytes, int]]:
    if not BUSYBOX.is_file():
        require_capability(
            "busybox-static is not installed (/bin/busybox): run scripts/install-docker-engine.sh"
        )
    files = [p for pkg in DEB_PACKAGES for p in _dpkg_files(pkg)]
    binaries = [Path(e) for e in EXECUTABLES if Path(e).is_file()]
    if len(binaries) != len(EXECUTABLES):
        require_capability(f"the stand-in base needs {', '.join(EXECUTABLES)} on this machine")
    dynload = [p for p in files if p.suffix == ".so"]
    chosen: dict[str, tuple[bytes, int]] = {}
    for path in {*files, *binaries, *_shared_libraries(binaries + dynload)}:
        chosen[str(path)] = (path.resolve().read_bytes(), path.resolve().stat().st_mode & 0o777)
    for path in pip_dir.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            inside = f"/usr/local/lib/python3.11/dist-packages/pip/{path.relative_to(pip_dir)}"
            chosen[inside] = (path.read_bytes(), 0o644)
    chosen["/bin/busybox"] = (BUSYBOX.read_bytes(), 0o755)
    chosen["/etc/login.defs"] = (Path("/etc/login.defs").read_bytes(), 0o644)
    return chosen


def python_rootfs(pip_dir: Path) -> bytes:
    """The stand-in's root filesystem as tar bytes (about 60 MB)."""
    chosen = _collect(pip_dir)
    dirs = {str(p) for name in chosen for p in Path(name).parents if str(p) != "/"}
    dirs.update({"/tmp", "/root", "/home", "/etc/skel", "/usr/local/bin"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted(dirs):
            info = tarfile.TarInfo(d.lstrip("/"))
            info.type, info.mtime = tarfile.DIRTYPE, 0
            info.mode = 0o1777 if d == "/tmp" else 0o755
            tar.addfile(info)
        for name, (data, mode) in sorted(chosen.items()):
            _add(tar, name, data, mode)
        for applet in ("sh", "env", "cat", "ls", "id", "printenv", "rm", "mkdir", "echo", "test"):
            _add_link(tar, f"bin/{applet}", "busybox")
        _add_link(tar, "usr/bin/python3", "python3.11")
        for name, data in sorted(ETC_FILES.items()):
            _add(tar, name, data, 0o600 if "shadow" in name else 0o644)
    return buf.getvalue()
