"""Every file read and directory scan goes through here, so ``--sysroot DIR`` relocates all of them.

As in sosreport, a host path such as ``/proc/driver/nvidia/version`` is read from
``DIR/proc/driver/nvidia/version``
when a sysroot is given. Evidence always records the host path, never the prefixed one. Reads never raise.
"""

from __future__ import annotations

import glob as _glob
import os
import stat as stat_module
from dataclasses import dataclass

from gpucheck.collect.evidence import DirListing, FileRead

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Files larger than this are truncated (``/proc`` files report size 0, so they are read up to this)."""


@dataclass(frozen=True, slots=True)
class Sysroot:
    """A root directory under which host paths are resolved (``/`` for the live machine)."""

    root: str = "/"

    def resolve(self, path: str) -> str:
        """The real filesystem path for a host path."""
        if self.root in ("", "/"):
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def unresolve(self, real: str) -> str:
        """The host path for a real path under the root."""
        if self.root in ("", "/"):
            return real
        rel = os.path.relpath(real, self.root)
        return "/" + ("" if rel == "." else rel)

    def exists(self, path: str) -> bool:
        """Whether the host path exists (without following a dangling symlink)."""
        return os.path.lexists(self.resolve(path))

    def is_file(self, path: str) -> bool:
        """Whether the host path is a regular file (following symlinks)."""
        return os.path.isfile(self.resolve(path))

    def is_executable(self, path: str) -> bool:
        """Whether the host path is an executable regular file."""
        real = self.resolve(path)
        return os.path.isfile(real) and os.access(real, os.X_OK)

    def realpath(self, path: str) -> str:
        """The host path with symlinks resolved inside the sysroot."""
        return self.unresolve(os.path.realpath(self.resolve(path)))

    def stat(self, path: str) -> dict[str, object]:
        """Type, mode, owner and group of a host path (without following a final symlink); never raises.

        ``access`` says whether this process may open it read-write, and is only known on the live host
        (under a sysroot it is None: the tree's files stand in for devices the running user never opens).
        """
        real = self.resolve(path)
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            return {"path": path, "exists": False}
        except OSError as exc:
            return {"path": path, "exists": True, "error": f"{type(exc).__name__}: {exc.strerror or exc}"}
        kind = (
            "char"
            if stat_module.S_ISCHR(st.st_mode)
            else "dir"
            if stat_module.S_ISDIR(st.st_mode)
            else "symlink"
            if stat_module.S_ISLNK(st.st_mode)
            else "file"
        )
        live = self.root in ("", "/")
        return {
            "path": path,
            "exists": True,
            "kind": kind,
            "mode": f"{stat_module.S_IMODE(st.st_mode):04o}",
            "uid": st.st_uid,
            "gid": st.st_gid,
            "rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)] if kind == "char" else None,
            "access": os.access(real, os.R_OK | os.W_OK) if live else None,
        }

    def read(self, path: str, *, limit: int = MAX_FILE_BYTES) -> FileRead:
        """Read a text file; a missing file, a directory or a permission error is recorded, not raised."""
        real = self.resolve(path)
        if not os.path.lexists(real):
            return FileRead(path=path, exists=False, error="no such file")
        try:
            with open(real, "rb") as handle:  # noqa: PTH123 - the one place that opens files
                data = handle.read(limit + 1)
        except IsADirectoryError:
            return FileRead(path=path, exists=True, error="is a directory")
        except PermissionError:
            return FileRead(path=path, exists=True, error="permission denied")
        except OSError as exc:
            return FileRead(path=path, exists=True, error=f"{type(exc).__name__}: {exc.strerror or exc}")
        truncated = len(data) > limit
        return FileRead(
            path=path,
            exists=True,
            content=data[:limit].decode("utf-8", errors="replace"),
            truncated=truncated,
        )

    def listdir(self, path: str) -> DirListing:
        """List a directory's entry names, sorted."""
        real = self.resolve(path)
        try:
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
        """Host paths matching a glob pattern, sorted."""
        matches = sorted(self.unresolve(m) for m in _glob.glob(self.resolve(pattern)))
        return DirListing(path=pattern, entries=tuple(matches), exists=bool(matches))
