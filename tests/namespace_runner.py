"""Run a command with a scenario's files and programs at their real paths, inside a private mount namespace.

Started by tests/test_scenarios.py as ``unshare --mount --propagation private python -m tests.namespace_runner
SPEC`` (root only). Nothing outside the namespace changes: a tmpfs on /mnt becomes the new root, holding bind
mounts of the real top-level directories; a directory that must gain or lose entries is overlaid the same way
(a tmpfs with the original entries bound back in), so a file can be added, replaced or hidden anywhere. /proc
cannot be overlaid that way (its per-process entries must stay live), so it gets a tmpfs whose entries are
symlinks into the real procfs bound aside (``/proc/self`` still resolves to the reader): a file the kernel
lacks (``/proc/modules`` on a kernel built without modules) can then be added at its real path. Then the
command runs chrooted there, as the user the spec names.

SPEC (JSON): ``files`` [[real path, source], ...] (a source that is a symlink is recreated as one),
``modes`` {real path: [mode, uid, gid]}, ``hide`` [glob, ...], ``replace`` {real path: source} for files that
cannot be removed (in /proc), ``argv``, ``env``, ``cwd``, ``user`` [uid, gid, [gids]] or null.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import shutil
import subprocess
import sys

MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
NEW_ROOT = "/mnt"
CANNOT_PLACE = 77
"""Exit status when the scenario cannot be set up here (a /proc/modules on a kernel without modules, a
checkout the unprivileged user cannot read): the test skips with the reason printed on stderr."""
SAVED = "/.gpucheck-ns"
_libc = ctypes.CDLL(None, use_errno=True)


def mount(
    source: str, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None
) -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                     data.encode() if data else None)  # fmt: skip
    if rc != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def umount(target: str) -> None:
    if _libc.umount2(target.encode(), 2) != 0:  # MNT_DETACH
        errno = ctypes.get_errno()
        raise OSError(errno, f"umount {target}: {os.strerror(errno)}")


def bind_entry(source: str, target: str) -> None:
    """Recreate ``source`` at ``target`` in a writable directory: a symlink, or a placeholder + bind."""
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    elif os.path.isdir(source):
        os.mkdir(target)
        mount(source, target, None, MS_BIND | MS_REC)
    else:
        with open(target, "w"):
            pass
        mount(source, target, None, MS_BIND)


class Tree:
    """The chrooted tree and which of its directories are writable tmpfs (or were made in one)."""

    def __init__(self) -> None:
        self.writable: set[str] = {"/"}
        self.count = 0

    def overlay(self, directory: str) -> None:
        """Make ``directory`` writable while keeping its entries: tmpfs on top, originals bound back in."""
        if directory in self.writable:
            return
        if directory == "/proc" or directory.startswith("/proc/"):
            self._overlay_proc(directory)
            return
        if directory in ("/sys", "/dev/pts"):
            raise OSError(f"refusing to overlay {directory}")
        self.count += 1
        saved = f"{SAVED}/{self.count}"
        os.makedirs(saved)
        mount(directory, saved, None, MS_BIND | MS_REC)
        mount("tmpfs", directory, "tmpfs", 0, "mode=0755")
        for entry in os.listdir(saved):
            bind_entry(f"{saved}/{entry}", f"{directory}/{entry}")
        self.writable.add(directory)

    def _overlay_proc(self, directory: str) -> None:
        """/proc as a tmpfs of symlinks into the real procfs; a directory below it: a directory of them."""
        if directory == "/proc":
            saved = f"{SAVED}/proc"
            os.makedirs(saved)
            mount("/proc", saved, None, MS_BIND | MS_REC)
            mount("tmpfs", "/proc", "tmpfs", 0, "mode=0555")
            for entry in os.listdir(saved):
                os.symlink(f"{saved}/{entry}", f"/proc/{entry}")
            self.writable.add("/proc")
            return
        self.overlay(os.path.dirname(directory))
        if os.path.islink(directory):
            target = os.readlink(directory)
            os.remove(directory)
            os.mkdir(directory, 0o555)
            for entry in os.listdir(target):
                os.symlink(f"{target}/{entry}", f"{directory}/{entry}")
        self.writable.add(directory)

    def ensure_dir(self, path: str) -> None:
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        self.ensure_dir(parent)
        self.overlay(parent)
        os.mkdir(path)
        self.writable.add(path)

    def remove(self, path: str) -> None:
        """Take ``path`` out of the tree (its directory is overlaid first)."""
        self.overlay(os.path.dirname(path))
        if os.path.ismount(path):
            umount(path)
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.remove(path)

    def place(self, real: str, source: str) -> None:
        """Put ``source`` at ``real``: bound over an existing file, else new in an overlaid directory."""
        if (
            os.path.lexists(real)
            and not os.path.islink(source)
            and os.path.isfile(real)
            and not os.path.islink(real)
        ):
            mount(source, real, None, MS_BIND)
            return
        self.ensure_dir(os.path.dirname(real))
        if os.path.lexists(real):
            self.remove(real)
        self.overlay(os.path.dirname(real))
        if os.path.islink(source):
            os.symlink(os.readlink(source), real)
        else:
            shutil.copy2(source, real)


def new_root(hidden_top: set[str]) -> None:
    """A tmpfs root holding the real top-level entries (minus ``hidden_top``), then chroot into it."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", NEW_ROOT, "tmpfs", 0, "mode=0755")
    for entry in os.listdir("/"):
        if entry in hidden_top or entry == NEW_ROOT.strip("/"):
            continue
        bind_entry(f"/{entry}", f"{NEW_ROOT}/{entry}")
    os.mkdir(f"{NEW_ROOT}/{NEW_ROOT.strip('/')}")
    os.mkdir(f"{NEW_ROOT}{SAVED}")
    os.chroot(NEW_ROOT)
    os.chdir("/")


def main(spec_path: str) -> int:
    with open(spec_path) as handle:
        spec = json.load(handle)
    hide = spec.get("hide", [])
    new_root({p.strip("/") for p in hide if p.count("/") == 1 and "*" not in p})
    tree = Tree()
    for pattern in hide:
        if pattern.count("/") == 1 and "*" not in pattern:
            continue
        for path in sorted(glob.glob(pattern), reverse=True):
            tree.remove(path)
    for real, source in spec.get("replace", {}).items():
        if os.path.exists(real):
            mount(source, real, None, MS_BIND)
    for real, source in spec.get("files", []):
        try:
            tree.place(real, source)
        except OSError as exc:
            print(f"{real} cannot be placed at its real path here: {exc}", file=sys.stderr)
            return CANNOT_PLACE
    for real, (mode, uid, gid) in spec.get("modes", {}).items():
        os.chown(real, uid, gid, follow_symlinks=False)
        os.chmod(real, mode)
    user = spec.get("user")
    as_user = {"user": user[0], "group": user[1], "extra_groups": user[2]} if user else {}
    if user:
        tree.overlay("/root")  # NOTE: /root is 0700; the interpreter may live under it (pyenv)
        probe = subprocess.run(
            [spec["argv"][0], "-c", "import gpucheck"], env=spec["env"], cwd=spec.get("cwd", "/"),
            capture_output=True, check=False, **as_user,
        )  # fmt: skip
        if probe.returncode != 0:
            why = f"uid {user[0]} cannot import gpucheck here (the checkout or interpreter is not readable)"
            print(why, file=sys.stderr)
            return CANNOT_PLACE
    proc = subprocess.run(
        spec["argv"],
        env=spec["env"],
        cwd=spec.get("cwd", "/"),
        capture_output=True,
        check=False,
        **as_user,
    )
    sys.stdout.buffer.write(proc.stdout)
    sys.stderr.buffer.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
