"""Pytest plugin: a real, private Docker engine for ``@pytest.mark.docker`` tests, and local stand-in images.

The session-scoped ``docker_engine`` fixture starts Debian's dockerd on a private socket through
``scripts/docker-engine.sh`` (flags from shared/reference/docker.md A1: no bridge, no iptables) the first
time a test asks for it, and stops it when the session ends. Tests that use it are skipped with the
script's reason when dockerd is not installed or will not start, unless ``GPUCHECK_REQUIRE_DOCKER=1``
(set it in CI) turns that into a failure. ``GPUCHECK_TEST_DOCKER_HOST=unix:///...`` uses an engine that is
already running and leaves it running.

No registry is reachable from the test machines, so base images are made locally: ``busybox_rootfs``
writes a deterministic tarball of a busybox-static root filesystem and ``DockerEngine.import_rootfs``
imports it under any tag, e.g. ``nvidia/cuda:12.4.1-base-ubuntu22.04``, so a Dockerfile naming that tag
builds offline (never pull).

Bookworm's dockerd 20.10 has no CDI and no buildx. The session-scoped ``modern_docker_engine`` fixture starts
trixie's dockerd 26 (BuildKit 0.13) that ``scripts/install-modern-docker-engine.sh DIR`` unpacked, when
``GPUCHECK_MODERN_DOCKER_DIR=DIR`` names it: its own socket and data directory, CDI on with a spec directory
of its own, the containerd image store (bit-reproducible OCI exports need it, docker.md A3) and buildx as a
CLI plugin. The tree is found through that variable or at its default place, ``/opt/gpucheck-modern-docker``
(where .ci/run unpacks it), so an unpacked engine is detected, not only configured. Under
``GPUCHECK_REQUIRE_DOCKER=1`` its absence fails the test too, unless ``GPUCHECK_MODERN_DOCKER_UNAVAILABLE``
says why this machine cannot have it (.ci/run sets it, with the download's error, when every retry failed):
then the tests skip with that reason, which the summary prints.

``require_capability(reason)`` is the one rule for every engine-, download- and wheelhouse-dependent test:
skip with the reason on a developer's machine, fail with it under ``GPUCHECK_REQUIRE_DOCKER=1``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
ENGINE_SCRIPT = REPO / "scripts" / "docker-engine.sh"
BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "env", "cat", "echo", "ls", "true", "false", "id", "sleep", "printenv", "test")
BASE_DIRS = ("bin", "etc", "root", "usr", "usr/bin", "usr/local", "usr/local/bin")
MODERN_DIR_ENV = "GPUCHECK_MODERN_DOCKER_DIR"
MODERN_DEFAULT_DIR = Path("/opt/gpucheck-modern-docker")
MODERN_UNAVAILABLE_ENV = "GPUCHECK_MODERN_DOCKER_UNAVAILABLE"
REQUIRE_ENV = "GPUCHECK_REQUIRE_DOCKER"
MODERN_SNAPSHOTTERS = ("overlayfs", "native")
"""containerd snapshotters to try in turn: with the containerd store, --storage-driver names a snapshotter."""


@dataclass(frozen=True)
class DockerEngine:
    """A running engine: where it listens and an SDK client bound to it."""

    host: str
    """The DOCKER_HOST value, e.g. ``unix:///tmp/gpc-dockerd-x/docker.sock``."""
    client: object
    """A ``docker.DockerClient`` connected to ``host``."""
    directory: Path | None
    """The directory the session's engine owns, or None for an external engine."""

    @property
    def socket_path(self) -> Path:
        """The engine's unix socket as a path."""
        return Path(self.host.removeprefix("unix://"))

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment (``base`` or os.environ) pointing docker clients at this engine."""
        env = dict(os.environ if base is None else base)
        env["DOCKER_HOST"] = self.host
        return env

    def import_rootfs(self, tar_bytes: bytes, tag: str, *, changes: tuple[str, ...] = ()) -> str:
        """Import a root filesystem tarball as image ``tag`` (offline, like ``docker import``).

        Returns:
            The new image's id.
        """
        repository, _, tagname = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        api = self.client.api
        # The engine answers with a progress stream; a failed import shows up as the tag being absent below.
        api.import_image_from_data(tar_bytes, repository=repository, tag=tagname, changes=list(changes))
        return self.client.images.get(tag).id


@dataclass(frozen=True)
class ModernDockerEngine(DockerEngine):
    """The modern engine (dockerd >= 25 from scripts/install-modern-docker-engine.sh) and its client side."""

    root: Path | None = None
    """The tree install-modern-docker-engine.sh filled; its bin/ holds dockerd and the docker CLI."""
    cdi_spec_dir: Path | None = None
    """The engine's only CDI spec directory (daemon.json cdi-spec-dirs); CDI rereads it on each injection."""
    docker_config: Path | None = None
    """A DOCKER_CONFIG of this session's own whose cli-plugins/ holds docker-buildx."""

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` pointed at this engine, with its docker CLI first on PATH and buildx as a plugin."""
        env = super().env(base)
        env["PATH"] = f"{self.root}/bin:{env.get('PATH', os.defpath)}"
        env["DOCKER_CONFIG"] = str(self.docker_config)
        return env


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
    tar.addfile(info)


def busybox_rootfs(extra_files: Mapping[str, tuple[bytes, int]] | None = None) -> bytes:
    """A deterministic tarball of a minimal root filesystem: static busybox, /etc/passwd, /tmp.

    ``extra_files`` maps an absolute path inside the image to ``(content, mode)``, e.g. a script standing in
    for ``/usr/bin/nvidia-smi`` that prints a recorded output. Needs Debian's busybox-static at /bin/busybox
    (scripts/install-docker-engine.sh installs it).
    """
    if not BUSYBOX.is_file():
        require_capability(
            "busybox-static is not installed (/bin/busybox): run scripts/install-docker-engine.sh"
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in BASE_DIRS:
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, "bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in BUSYBOX_APPLETS:
            _add_symlink(tar, f"bin/{applet}", "busybox")
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _add_file(tar, "etc/group", b"root:x:0:\n")
        for path, (content, mode) in sorted((extra_files or {}).items()):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) not in BASE_DIRS:
                    _add_dir(tar, "/".join(parts[:i]))
            _add_file(tar, "/".join(parts), content, mode)
    return buf.getvalue()


def _run_script(
    action: str, directory: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ENGINE_SCRIPT), action, str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def required() -> bool:
    """Whether engine-dependent tests must run here (CI sets ``GPUCHECK_REQUIRE_DOCKER=1``)."""
    return os.environ.get(REQUIRE_ENV) == "1"


def require_capability(reason: str) -> None:
    """Skip with ``reason`` where the capability is optional; fail with it where it is required."""
    if required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def _unavailable(reason: str) -> None:
    require_capability(f"needs a Docker engine: {reason}")


def _docker_host(started: subprocess.CompletedProcess[str]) -> str:
    """The DOCKER_HOST value that ``scripts/docker-engine.sh start`` prints on its last line."""
    return started.stdout.strip().splitlines()[-1].removeprefix("DOCKER_HOST=")


def _shut_down(client: Any, directory: Path) -> None:
    """Remove every container, close the client and stop the engine that runs in ``directory``."""
    # A container left running would hold dockerd's shutdown for its 15 s stop timeout.
    for container in client.containers.list(all=True):
        container.remove(force=True)
    client.close()
    _run_script("stop", directory)


def _import_busybox(engine: Any) -> str:
    """Import ``gpucheck-test/busybox:local`` (CMD /bin/sh) into ``engine`` and return its tag."""
    tag = "gpucheck-test/busybox:local"
    engine.import_rootfs(busybox_rootfs(), tag, changes=('CMD ["/bin/sh"]',))
    return tag


def _client(host: str) -> object:
    try:
        import docker
    except ImportError:
        _unavailable("the Docker SDK is not installed (pip install docker)")
    try:
        return docker.DockerClient(base_url=host, timeout=300)
    except docker.errors.DockerException as exc:
        _unavailable(f"no engine answers on {host}: {exc}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A running private Docker engine for this test session (skips with the reason when there is none)."""
    external = os.environ.get("GPUCHECK_TEST_DOCKER_HOST")
    if external:
        client = _client(external)
        yield DockerEngine(host=external, client=client, directory=None)
        client.close()
        return
    if shutil.which("dockerd") is None and not Path("/usr/sbin/dockerd").exists():
        _unavailable("dockerd is not installed (scripts/install-docker-engine.sh installs docker.io)")
    # A short path of our own: unix socket paths are limited to 107 bytes, and a per-session directory lets
    # parallel test sessions each run their own engine.
    directory = Path(tempfile.mkdtemp(prefix="gpc-dockerd-", dir="/tmp"))
    started = _run_script("start", directory)
    if started.returncode != 0:
        _run_script("stop", directory)
        _unavailable(f"scripts/docker-engine.sh start exited {started.returncode}: {started.stderr.strip()}")
    host = _docker_host(started)
    client = _client(host)
    try:
        yield DockerEngine(host=host, client=client, directory=directory)
    finally:
        _shut_down(client, directory)


@pytest.fixture(scope="session")
def busybox_image(docker_engine: DockerEngine) -> str:
    """A tiny local image ``gpucheck-test/busybox:local`` (CMD /bin/sh), imported once per session."""
    return _import_busybox(docker_engine)


def _modern_root() -> Path:
    """The modern engine's tree (GPUCHECK_MODERN_DOCKER_DIR or the default place), or skip/fail saying why."""
    named = os.environ.get(MODERN_DIR_ENV)
    root = Path(named) if named else MODERN_DEFAULT_DIR
    if (root / ".complete").is_file() and os.access(root / "bin" / "dockerd", os.X_OK):
        return root
    explained = os.environ.get(MODERN_UNAVAILABLE_ENV)
    if explained:
        pytest.skip(f"needs a modern Docker engine (dockerd >= 25, buildx): {explained}")
    where = f"{MODERN_DIR_ENV}={root}" if named else f"{MODERN_DIR_ENV} is not set and {root}"
    require_capability(
        f"needs a modern Docker engine (dockerd >= 25, buildx): {where} holds no complete engine; "
        f"run scripts/install-modern-docker-engine.sh {root}"
    )
    raise AssertionError("unreachable")


def _start_modern(root: Path, directory: Path) -> str:
    """Start the modern engine in ``directory``, trying each snapshotter; its DOCKER_HOST, or skip."""
    errors = []
    for snapshotter in MODERN_SNAPSHOTTERS:
        env = {"DOCKERD_ROOT": str(root), "GPUCHECK_DOCKER_STORAGE_DRIVER": snapshotter}
        started = _run_script("start", directory, env)
        if started.returncode == 0:
            return _docker_host(started)
        errors.append(f"{snapshotter}: exit {started.returncode}: {started.stderr.strip()[-300:]}")
        # `stop` removes the directory; the next try needs its daemon.json back.
        config = (directory / "daemon.json").read_text()
        _run_script("stop", directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "daemon.json").write_text(config)
    _run_script("stop", directory)
    require_capability(f"the modern Docker engine in {root} did not start: " + "; ".join(errors))
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def modern_docker_engine() -> Iterator[ModernDockerEngine]:
    """Trixie's dockerd with CDI, the containerd store and buildx, private to this session (or skip)."""
    root = _modern_root()
    try:
        import docker
    except ImportError:
        require_capability("the Docker SDK is not installed (pip install docker)")
    directory = Path(tempfile.mkdtemp(prefix="gpc-mdockerd-", dir="/tmp"))
    cdi_dir, plugins = directory / "cdi", directory / "docker-config" / "cli-plugins"
    cdi_dir.mkdir()
    plugins.mkdir(parents=True)
    (plugins / "docker-buildx").symlink_to(root / "docker-config" / "cli-plugins" / "docker-buildx")
    features = {"cdi": True, "containerd-snapshotter": True}
    config = {"features": features, "cdi-spec-dirs": [str(cdi_dir)]}
    (directory / "daemon.json").write_text(json.dumps(config))
    host = _start_modern(root, directory)
    client = docker.DockerClient(base_url=host, timeout=300)
    try:
        yield ModernDockerEngine(
            host=host,
            client=client,
            directory=directory,
            root=root,
            cdi_spec_dir=cdi_dir,
            docker_config=directory / "docker-config",
        )
    finally:
        _shut_down(client, directory)


@pytest.fixture(scope="session")
def modern_busybox_image(modern_docker_engine: ModernDockerEngine) -> str:
    """``gpucheck-test/busybox:local`` (CMD /bin/sh) on the modern engine, imported once per session."""
    return _import_busybox(modern_docker_engine)
