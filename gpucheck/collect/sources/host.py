"""Evidence source: where a fix will run — the distribution, the running user, and rootless Docker's socket.

Command line equivalent: ``cat /etc/os-release /proc/self/status; id; ls /run/user/$UID/docker.sock``.
Under ``--sysroot`` every path, ``/proc/self/status`` included, is read from the tree, so a recorded host's
user and groups travel with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
"""os-release(5): the first that exists wins."""
STATUS = "/proc/self/status"
ROOTFUL_SOCKET = "/var/run/docker.sock"


def _ids(status: str, key: str) -> list[int]:
    """The numbers after ``key:`` in /proc/self/status (``Uid:`` has real, effective, saved, fs)."""
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return [int(tok) for tok in line[len(key) + 1 :].split() if tok.isdigit()]
    return []


def group_names(ctx: CollectContext, wanted: Iterable[int]) -> dict[str, str]:
    """Gid → name from /etc/group for the wanted gids only (the file's member lists are not kept)."""
    wanted = {str(g) for g in wanted}
    names: dict[str, str] = {}
    read = ctx.read("/etc/group")
    for line in (read.content or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2] in wanted:
            names.setdefault(fields[2], fields[0])
    return names


def user_name(ctx: CollectContext, uid: int | None) -> str:
    """The login name of ``uid`` from /etc/passwd, or empty."""
    if uid is None:
        return ""
    read = ctx.read("/etc/passwd")
    for line in (read.content or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2] == str(uid):
            return fields[0]
    return ""


@collector("host", timeout_s=2.0)
def collect_host(ctx: CollectContext) -> Iterable[Item]:
    """/etc/os-release, the running user's uid and groups, and which Docker sockets exist."""
    for path in OS_RELEASE:
        read = ctx.read(path)
        yield read
        if read.content is not None:
            break
    status = ctx.read(STATUS)
    yield status
    text = status.content or ""
    uids, gids = _ids(text, "Uid"), _ids(text, "Gid")
    groups = _ids(text, "Groups")
    uid = uids[1] if len(uids) > 1 else (uids[0] if uids else None)
    gid = gids[1] if len(gids) > 1 else (gids[0] if gids else None)
    all_gids = sorted({*groups, *([gid] if gid is not None else [])})
    rootless_socket = f"/run/user/{uid}/docker.sock" if uid is not None else ""
    yield Value(
        name="identity",
        data={
            "uid": uid,
            "gid": gid,
            "user": user_name(ctx, uid),
            "groups": all_gids,
            "group_names": group_names(ctx, all_gids),
            "sockets": {
                ROOTFUL_SOCKET: ctx.sysroot.exists(ROOTFUL_SOCKET),
                **({rootless_socket: ctx.sysroot.exists(rootless_socket)} if rootless_socket else {}),
            },
        },
    )
