"""Build images: a deterministic build context, the Docker SDK with a live progress display, and buildx.

The SDK drives the classic builder (docker-py has no BuildKit API), which cannot make bit-reproducible
images: ``--reproducible`` therefore shells out to ``docker buildx build`` with SOURCE_DATE_EPOCH,
rewrite-timestamp and no provenance, writing an OCI tarball (shared/reference/docker.md A3 measured two such
tarballs bit-identical).
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gpucheck.collect.run import run_command

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")

MAX_REFERENCE_LEN = 255
"""The longest image reference Docker accepts (distribution/reference NameTotalLengthMax)."""
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?)"
_COMPONENT = r"(?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)"
REFERENCE_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
"""Docker's image reference grammar (github.com/distribution/reference, regexp.go); applied only to strings of
at most ``MAX_REFERENCE_LEN`` characters, so it runs in bounded time."""
_OUTPUT_UNSAFE = frozenset(",\"'\n\r=")
"""Characters that would end or re-open a field of buildx's ``--output`` CSV value."""


class UsageError(ValueError):
    """A value given on the command line cannot be used (the message says which and why)."""


def validate_reference(tag: str) -> str:
    """Return ``tag`` when it is a valid image reference such as ``registry:5000/team/img:1.0``.

    Strict validation, not escaping: the tag is rendered into ``--output type=oci,...,name=TAG`` for buildx,
    where a ``,`` would add options of its own (``push=true``, another ``dest=``).
    """
    if not tag or len(tag) > MAX_REFERENCE_LEN or not REFERENCE_RE.fullmatch(tag):
        shown = tag if len(tag) <= 80 else tag[:77] + "..."
        raise UsageError(
            f"-t/--tag {shown!r} is not an image reference: use [registry[:port]/]name[:tag] with lower-case "
            "letters, digits and . _ - in the name, a tag of letters, digits and . _ - (up to 128), and "
            f"at most {MAX_REFERENCE_LEN} characters"
        )
    return tag


def validate_output_path(path: Path) -> Path:
    """Return ``path`` when it can be written into buildx's ``--output dest=...`` field unchanged."""
    bad = sorted(set(str(path)) & _OUTPUT_UNSAFE)
    if bad:
        raise UsageError(
            f"--oci-out {str(path)!r} contains {', '.join(repr(c) for c in bad)}, which buildx's --output "
            "option would read as a separator; choose a path without them"
        )
    return path


class BuildFailed(RuntimeError):
    """The engine refused or a build step failed; the message is the engine's own."""


@dataclass(frozen=True)
class BuildEvent:
    """One line of build progress."""

    step: int
    total: int
    text: str


def context_tar(files: Mapping[str, bytes]) -> bytes:
    """A build context as a tar: sorted names, mtime 0, owner root, mode 0644 (equal files, equal bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, 0, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_files(dockerfile: str, lock_text: str, wheels: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files of a build context for a rendered Dockerfile: Dockerfile, requirements.txt, wheels/."""
    files = {"Dockerfile": dockerfile.encode(), "requirements.txt": lock_text.encode()}
    files.update({f"wheels/{name}": data for name, data in wheels.items()})
    return files


def _events(stream: Iterator[dict], on_event: Callable[[BuildEvent], None]) -> str:
    step, total, image_id = 0, 0, ""
    for chunk in stream:
        if "errorDetail" in chunk or "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
            raise BuildFailed(str(detail).strip())
        image_id = chunk.get("aux", {}).get("ID", image_id)
        for line in str(chunk.get("stream", "")).splitlines():
            match = STEP_RE.match(line.strip())
            if match:
                step, total = int(match[1]), int(match[2])
            if line.strip():
                on_event(BuildEvent(step, total, line.strip()))
    if not image_id:
        raise BuildFailed("the engine finished the build without reporting an image id")
    return image_id


def build_with_sdk(
    client: object,
    context: bytes,
    tag: str,
    *,
    buildargs: Mapping[str, str] | None = None,
    network_mode: str | None = None,
    nocache: bool = False,
    on_event: Callable[[BuildEvent], None] = lambda _e: None,
) -> str:
    """Build ``context`` (a tar from context_tar) as ``tag`` through the Docker SDK; return the image id.

    Never pulls (``pull=False``): the base must be local or pullable by the engine itself. ``forcerm``
    removes the intermediate container of a failed step too.

    Raises:
        BuildFailed: with the engine's message.
    """
    import docker.errors

    try:
        stream = client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            tag=tag,
            buildargs=dict(buildargs or {}),
            network_mode=network_mode,
            nocache=nocache,
            pull=False,
            rm=True,
            forcerm=True,
            decode=True,
        )
        return _events(stream, on_event)
    except docker.errors.APIError as exc:
        raise BuildFailed(str(exc.explanation or exc)) from None


@dataclass(frozen=True)
class Buildx:
    """Whether ``docker buildx`` can run here, and its version line or what is missing."""

    available: bool
    detail: str


def probe_buildx(env: Mapping[str, str]) -> Buildx:
    """Run ``docker buildx version`` with ``env`` and say whether reproducible builds are possible."""
    result = run_command(["docker", "buildx", "version"], timeout_s=20, env=dict(env))
    if result.returncode == 0 and result.stdout.strip():
        return Buildx(True, result.stdout.strip())
    said = (result.stderr or result.stdout or result.error or "").strip().splitlines()
    reason = said[0] if said else f"exit code {result.returncode}"
    if result.not_found:
        reason = "no docker CLI on PATH"
    return Buildx(
        False,
        "--reproducible needs the docker buildx plugin (BuildKit >= 0.13 for rewrite-timestamp), and "
        f"`docker buildx version` failed: {reason}. Install it (Debian trixie: "
        "`apt-get install docker-buildx`; Docker's apt repository: `apt-get install docker-buildx-plugin`) "
        "or build without --reproducible.",
    )


def buildx_argv(context_dir: Path, out_tar: Path, *, source_date_epoch: int, tag: str) -> list[str]:
    """The ``docker buildx build`` command line of a reproducible build writing an OCI tarball.

    Raises ``UsageError`` for a tag or a path that would change the meaning of ``--output``.
    """
    validate_reference(tag)
    validate_output_path(out_tar)
    validate_output_path(context_dir)
    return [
        "docker", "buildx", "build",
        "--provenance=false",
        "--build-arg", f"SOURCE_DATE_EPOCH={source_date_epoch}",
        "--network", "host",
        "--output", f"type=oci,dest={out_tar},name={tag},rewrite-timestamp=true",
        str(context_dir),
    ]  # fmt: skip


def build_reproducible(
    context: bytes, work_dir: Path, out_tar: Path, *, tag: str, source_date_epoch: int, env: Mapping[str, str]
) -> str:
    """Build with buildx into ``out_tar``; return the tarball's sha256 (equal sources → equal digest).

    Raises:
        BuildFailed: buildx is missing (the message says what to install) or the build failed.
    """
    buildx = probe_buildx(env)
    if not buildx.available:
        raise BuildFailed(buildx.detail)
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        tar.extractall(work_dir, filter="data")
    run_env = dict(env, SOURCE_DATE_EPOCH=str(source_date_epoch))
    argv = buildx_argv(work_dir, out_tar, source_date_epoch=source_date_epoch, tag=tag)
    result = run_command(argv, timeout_s=3600, env=run_env)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.error or "").strip().splitlines()[-5:])
        raise BuildFailed(f"docker buildx build exited {result.returncode}:\n{tail}")
    return "sha256:" + hashlib.sha256(out_tar.read_bytes()).hexdigest()


def project_root() -> Path | None:
    """The source checkout gpucheck runs from (editable install), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "gpucheck").is_dir() else None


def build_gpucheck_wheel(
    project: Path, out_dir: Path, *, env: Mapping[str, str], source_date_epoch: int
) -> Path:
    """Build gpucheck's wheel from ``project`` into ``out_dir`` (zip times from SOURCE_DATE_EPOCH).

    Raises:
        BuildFailed: pip could not build the wheel (its last lines are quoted).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out_dir)]
    argv.append(str(project))
    result = run_command(argv, timeout_s=600, env=dict(env, SOURCE_DATE_EPOCH=str(source_date_epoch)))
    wheels = sorted(out_dir.glob("gpucheck-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout or result.error or "").strip().splitlines()[-5:])
        raise BuildFailed(f"building gpucheck's wheel from {project} failed:\n{tail}")
    return wheels[-1]
