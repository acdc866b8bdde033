"""Every file read and directory scan goes through here, so ``--sysroot DIR`` relocates all of them.

As in sosreport, a host path such as ``/proc/driver/nvidia/version`` is read from
``DIR/proc/driver/nvidia/version``
when a sysroot is given. Evidence always records the host path, never the prefixed one. Reads never raise.

Symbolic links are resolved as ``chroot DIR`` would: an absolute target (``/usr/local/cuda ->
/usr/local/cuda-13.0``, ``/etc/alternatives/...``) and ``..`` stay inside ``DIR``, so a mounted image never
reads the host's own files; a loop is reported as one ("too many levels of symbolic links").

Only regular files are read (``read_regular``): a FIFO, a character device such as ``/dev/zero`` or a
socket is refused without blocking, and at most ``limit`` bytes are taken.
"""

from __future__ import annotations

import errno
import fnmatch
import glob as _glob
import os
import stat
from collections import deque
from dataclasses import dataclass

from gpucheck.collect.evidence import DirListing, FileRead

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Files larger than this are truncated (``/proc`` files report size 0, so they are read up to this)."""

MAX_SYMLINKS = 40
"""Links followed while resolving one path before it counts as a loop (Linux's own limit)."""

_KIND_NAMES = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class NotRegularFileError(OSError):
    """The path is a FIFO, a device, a socket or a directory: gpucheck reads only regular files."""


class FileTooLargeError(OSError):
    """The file is larger than the caller's limit."""


def read_regular(path: str, *, limit: int, truncate: bool = False) -> tuple[bytes, bool]:
    """The bytes of a regular file (at most ``limit``), and whether more were left unread.

    Opens with ``O_NONBLOCK`` so a FIFO cannot block the open, then refuses anything that is not a regular
    file. Raises ``NotRegularFileError``, ``FileTooLargeError`` (when ``truncate`` is false and the file is
    larger than ``limit``) or any other ``OSError`` from the open.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KIND_NAMES.get(stat.S_IFMT(mode), "not a regular file")
            raise NotRegularFileError(errno.EINVAL, f"{kind}, not a regular file", path)
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        if not truncate:
            raise FileTooLargeError(errno.EFBIG, f"larger than {limit} bytes", path)
        return data[:limit], True
    return data, False


@dataclass(frozen=True, slots=True)
class Sysroot:
    """A root directory under which host paths are resolved (``/`` for the live machine)."""

    root: str = "/"

    @property
    def relocated(self) -> bool:
        """Whether paths are read under a root other than ``/``."""
        return self.root not in ("", "/")

    def resolve(self, path: str, *, follow: bool = True) -> str:
        """The real filesystem path for a host path, with links resolved inside the root.

        With ``follow=False`` a link in the last component is not followed (as ``lstat``). A symlink loop
        resolves to the root-joined path of the link itself; the read methods report the loop.
        """
        if not self.relocated:
            return path
        try:
            return self._chroot_resolve(path, follow=follow)
        except OSError:
            return os.path.join(self.root, path.lstrip("/"))

    def _chroot_resolve(self, path: str, *, follow: bool) -> str:
        """Resolve ``path`` component by component as the kernel would inside ``chroot(root)``."""
        pending = deque(p for p in path.split("/") if p not in ("", "."))
        done: list[str] = []
        links = 0
        while pending:
            name = pending.popleft()
            if name == "..":
                if done:
                    done.pop()
                continue
            candidate = os.path.join(self.root, *done, name)
            if (pending or follow) and os.path.islink(candidate):
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                target = os.readlink(candidate)
                if target.startswith("/"):
                    done = []
                pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            done.append(name)
        return os.path.join(self.root, *done)

    def _real(self, path: str, *, follow: bool = True) -> str:
        """Like ``resolve`` but raising ``OSError(ELOOP)`` for a loop."""
        return self._chroot_resolve(path, follow=follow) if self.relocated else path

    def unresolve(self, real: str) -> str:
        """The host path for a real path under the root."""
        if not self.relocated:
            return real
        rel = os.path.relpath(real, self.root)
        return "/" + ("" if rel == "." else rel)

    def exists(self, path: str) -> bool:
        """Whether the host path exists (without following a dangling symlink)."""
        try:
            return os.path.lexists(self._real(path, follow=False))
        except OSError:
            return False  # NOTE: a loop in a leading component: nothing can be reached through it

    def is_file(self, path: str) -> bool:
        """Whether the host path is a regular file (following symlinks inside the root)."""
        try:
            return os.path.isfile(self._real(path))
        except OSError:
            return False

    def is_executable(self, path: str) -> bool:
        """Whether the host path is an executable regular file."""
        try:
            real = self._real(path)
        except OSError:
            return False
        return os.path.isfile(real) and os.access(real, os.X_OK)

    def realpath(self, path: str) -> str:
        """The host path with symlinks resolved inside the sysroot."""
        if not self.relocated:
            return os.path.realpath(path)
        try:
            return self.unresolve(self._real(path))
        except OSError:
            return path

    def stat(self, path: str) -> dict[str, object]:
        """Type, mode, owner and group of a host path (without following a final symlink); never raises.

        ``access`` says whether this process may open it read-write, and is only known on the live host
        (under a sysroot it is None: the tree's files stand in for devices the running user never opens).
        """
        real = self.resolve(path, follow=False)
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            return {"path": path, "exists": False}
        except OSError as exc:
            return {"path": path, "exists": True, "error": f"{type(exc).__name__}: {exc.strerror or exc}"}
        kind = (
            "char"
            if stat.S_ISCHR(st.st_mode)
            else "dir"
            if stat.S_ISDIR(st.st_mode)
            else "symlink"
            if stat.S_ISLNK(st.st_mode)
            else "file"
        )
        live = not self.relocated
        return {
            "path": path,
            "exists": True,
            "kind": kind,
            "mode": f"{stat.S_IMODE(st.st_mode):04o}",
            "uid": st.st_uid,
            "gid": st.st_gid,
            "rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)] if kind == "char" else None,
            "access": os.access(real, os.R_OK | os.W_OK) if live else None,
        }

    def read(self, path: str, *, limit: int = MAX_FILE_BYTES) -> FileRead:
        """Read a text file; a missing file, a directory, a FIFO/device, a loop or EACCES is recorded."""
        try:
            real = self._real(path)
        except OSError as exc:
            return FileRead(path=path, exists=True, error=exc.strerror or str(exc))
        if not os.path.lexists(real):
            return FileRead(path=path, exists=False, error="no such file")
        try:
            data, truncated = read_regular(real, limit=limit, truncate=True)
        except NotRegularFileError as exc:
            kind = (exc.strerror or "").split(",")[0]
            return FileRead(path=path, exists=True, error="is a directory" if "directory" in kind else kind)
        except IsADirectoryError:
            return FileRead(path=path, exists=True, error="is a directory")
        except PermissionError:
            return FileRead(path=path, exists=True, error="permission denied")
        except OSError as exc:
            return FileRead(path=path, exists=True, error=f"{type(exc).__name__}: {exc.strerror or exc}")
        return FileRead(
            path=path,
            exists=True,
            content=data.decode("utf-8", errors="replace"),
            truncated=truncated,
        )

    def listdir(self, path: str) -> DirListing:
        """List a directory's entry names, sorted."""
        try:
            real = self._real(path)
            return DirListing(path=path, entries=tuple(sorted(os.listdir(real))), exists=True)
        except FileNotFoundError:
            return DirListing(path=path, exists=False, error="no such directory")
        except NotADirectoryError:
            return DirListing(path=path, exists=True, error="not a directory")
        except PermissionError:
            return DirListing(path=path, exists=True, error="permission denied")
        except OSError as exc:
            return DirListing(path=path, exists=True, error=f"{type(exc).__name__}: {exc.strerror or exc}")

    def glob(self, pattern: str) -> DirListing:
        """Host paths matching a glob pattern, sorted; under a sysroot every component resolves inside it."""
        if not self.relocated:
            matches = tuple(sorted(_glob.glob(pattern)))
            return DirListing(path=pattern, entries=matches, exists=bool(matches))
        current = ["/"]
        for part in (p for p in pattern.split("/") if p):
            if not _glob.has_magic(part):
                current = [os.path.join(host, part) for host in current]
                continue
            found: list[str] = []
            for host in current:
                try:
                    names = os.listdir(self._real(host))
                except OSError:
                    continue
                hidden_ok = part.startswith(".")
                found.extend(
                    os.path.join(host, n)
                    for n in names
                    if fnmatch.fnmatchcase(n, part) and (hidden_ok or not n.startswith("."))
                )
            current = found
        matches = tuple(sorted(h for h in current if self.exists(h)))
        return DirListing(path=pattern, entries=matches, exists=bool(matches))
