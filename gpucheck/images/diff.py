"""Tell whether two images hold the same files and the same runtime metadata.

Compared: every file of the final filesystem (layers applied in order, whiteouts honoured) by type, content
(sha256), permission bits, owner uid/gid, link target and device numbers; and the configuration a container
runs with (CONFIG_KEYS) plus the platform (PLATFORM_KEYS).

Ignored, because it cannot change what a container does:
- file modification times: the classic builder stamps wall-clock times on every file a step writes, so two
  builds of the same sources never agree; content that depends on a time (a timestamp-based .pyc) differs in
  its bytes and is still caught;
- image and layer identifiers, ``RootFS`` diff-ids, ``Created``, ``Parent``, ``RepoTags``/``RepoDigests``,
  ``Size``, ``GraphDriver``, ``Metadata``, ``DockerVersion``, ``Comment``, ``Container``/``ContainerConfig``
  and ``Config.Image``/``Config.Hostname``: they record how, when and where an image was built or stored, and
  the identifiers are hashes over the mtimes above.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Any

CONFIG_KEYS = (
    "User", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels", "ExposedPorts", "Volumes", "Healthcheck",
    "StopSignal", "Shell", "OnBuild",
)  # fmt: skip
PLATFORM_KEYS = ("Architecture", "Os", "Variant", "Author")
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
KINDS = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo",
}  # fmt: skip


@dataclass(frozen=True)
class FileRecord:
    """What is compared of one path."""

    kind: str
    mode: int
    uid: int
    gid: int
    link: str = ""
    sha256: str = ""
    device: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ImageDiff:
    """The differences between images A and B (empty lists: equal)."""

    metadata: list[tuple[str, Any, Any]] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    changed: list[tuple[str, FileRecord, FileRecord]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True when nothing that matters differs."""
        return not (self.metadata or self.only_in_a or self.only_in_b or self.changed)


def _record(layer: tarfile.TarFile, member: tarfile.TarInfo) -> FileRecord:
    digest = hashlib.sha256()
    handle = layer.extractfile(member) if member.isreg() else None
    while handle is not None and (block := handle.read(1 << 20)):
        digest.update(block)
    return FileRecord(
        kind=KINDS.get(member.type, f"type-{member.type!r}"),
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        link=member.linkname,
        sha256=digest.hexdigest() if member.isreg() else "",
        device=(member.devmajor, member.devminor) if member.ischr() or member.isblk() else (0, 0),
    )


def apply_layer(files: dict[str, FileRecord], layer: tarfile.TarFile) -> None:
    """Apply one layer tar to ``files`` (path → record), honouring OCI/AUFS whiteouts."""
    for member in layer:
        path = "/" + member.name.lstrip("./").rstrip("/")
        parent, _, base = path.rpartition("/")
        if base == OPAQUE:
            for existing in [p for p in files if p.startswith(parent + "/")]:
                del files[existing]
        elif base.startswith(WHITEOUT):
            gone = f"{parent}/{base[len(WHITEOUT) :]}"
            for existing in [p for p in files if p == gone or p.startswith(gone + "/")]:
                del files[existing]
        elif path != "/":
            files[path] = _record(layer, member)


def filesystem(client: object, ref: str) -> dict[str, FileRecord]:
    """The final filesystem of image ``ref``, read from ``docker save`` output (spooled to a temp file)."""
    with tempfile.TemporaryFile() as spool:
        for chunk in client.images.get(ref).save(named=False):
            spool.write(chunk)
        spool.seek(0)
        with tarfile.open(fileobj=spool) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))
            files: dict[str, FileRecord] = {}
            for name in manifest[0]["Layers"]:
                with tarfile.open(fileobj=archive.extractfile(name)) as layer:
                    apply_layer(files, layer)
    return files


def metadata(attrs: dict[str, Any]) -> dict[str, Any]:
    """The compared part of ``docker inspect`` output."""
    config = attrs.get("Config") or {}
    picked = {f"Config.{k}": config.get(k) for k in CONFIG_KEYS}
    picked.update({k: attrs.get(k) for k in PLATFORM_KEYS})
    return picked


def compare(meta_a: dict[str, Any], meta_b: dict[str, Any], files_a: dict, files_b: dict) -> ImageDiff:
    """Compare two images' metadata and filesystems (both already read)."""
    common = sorted(set(files_a) & set(files_b))
    keys = sorted(set(meta_a) | set(meta_b))
    return ImageDiff(
        metadata=[(k, meta_a.get(k), meta_b.get(k)) for k in keys if meta_a.get(k) != meta_b.get(k)],
        only_in_a=sorted(set(files_a) - set(files_b)),
        only_in_b=sorted(set(files_b) - set(files_a)),
        changed=[(p, files_a[p], files_b[p]) for p in common if files_a[p] != files_b[p]],
    )


def diff_images(client: object, ref_a: str, ref_b: str) -> ImageDiff:
    """Compare images ``ref_a`` and ``ref_b`` in the engine behind ``client``."""
    images = client.images
    return compare(
        metadata(images.get(ref_a).attrs), metadata(images.get(ref_b).attrs),
        filesystem(client, ref_a), filesystem(client, ref_b),
    )  # fmt: skip
