"""The container layer against a real Docker engine started by the test session (no GPU: the GPU outcomes are
the engine's own errors, e.g. 'could not select device driver "" with capabilities: [[gpu]]')."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from gpucheck.collect.sources.docker_daemon import SMOKE_LABEL
from gpucheck.diagnose.checks.container_advice import install_toolkit
from gpucheck.diagnose.host import Host
from gpucheck.diagnose.parse.docker_daemon import SmokeFailure, classify_smoke_error
from tests.conftest import base_env, findings_by_check
from tests.container.conftest import fixture_text
from tests.docker_engine import DockerEngine, busybox_rootfs, require_capability

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO / "scripts" / "docker-engine.sh"
STAND_IN = "nvidia/cuda:12.0.1-base-ubuntu22.04"
"""The tag `--container-smoke` picks for a CUDA 12 driver; a busybox rootfs stands in for it (no registry)."""


def import_stand_in(engine: DockerEngine, tag: str = STAND_IN) -> str:
    """Import the busybox rootfs under ``tag``; it has no nvidia-smi, which never runs (start fails first)."""
    engine.import_rootfs(busybox_rootfs(), tag)
    return tag


def doctor(invoke, env, *args):
    result = invoke("doctor", "--only", "container", "--json", *args, env=env)
    return result, findings_by_check(json.loads(result.stdout))


def labelled(client) -> list:
    return client.containers.list(all=True, filters={"label": SMOKE_LABEL})


@pytest.fixture
def engine_env(docker_engine, fake_bin):
    return base_env(fake_bin, DOCKER_HOST=docker_engine.host)


def test_reachable_daemon_reports_version_and_runtimes(invoke, docker_engine, engine_env):
    version = docker_engine.client.version()["Version"]
    result, grouped = doctor(invoke, engine_env)
    (daemon,) = grouped["container.daemon"]
    assert daemon["status"] == "pass", daemon
    assert f"Docker {version} at {docker_engine.host}" in daemon["summary"]
    assert "runc" in daemon["data"]["runtimes"] and daemon["data"]["default_runtime"] == "runc"


def test_unreachable_daemon_through_docker_host(invoke, fake_bin, tmp_path):
    env = base_env(fake_bin, DOCKER_HOST=f"unix://{tmp_path}/nothing-here.sock")
    result, grouped = doctor(invoke, env)
    (daemon,) = grouped["container.daemon"]
    assert daemon["status"] == "warn" and daemon["data"]["error_kind"] == "socket_missing"


def test_edited_but_not_restarted_against_the_live_daemon(invoke, docker_engine, engine_env, sysroot):
    live = docker_engine.client.info()["Runtimes"]
    assert "nvidia" not in live, "the session engine is expected to run without an nvidia runtime"
    sysroot.write("/etc/docker/daemon.json", fixture_text("daemon_json", "nvidia_ctk_default.json"))
    _, grouped = doctor(invoke, engine_env, "--sysroot", str(sysroot.root))
    (finding,) = grouped["container.daemon_restart"]
    assert finding["status"] == "fail", finding
    assert "runtime(s) nvidia are in the file but not in the daemon's Runtimes" in finding["summary"]
    assert finding["remediation"].startswith("sudo systemctl restart docker")


def short_dir() -> Path:
    """A fresh directory with a short path: containerd's socket lives under it (unix paths max 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="gpc-eng-"))


@contextlib.contextmanager
def private_engine(directory: Path, config: str):
    """Another engine, started by scripts/docker-engine.sh in ``directory`` with this daemon.json."""
    import docker

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "daemon.json").write_text(config)
    stop = ["bash", str(ENGINE_SCRIPT), "stop", str(directory)]
    start = ["bash", str(ENGINE_SCRIPT), "start", str(directory)]
    proc = subprocess.run(start, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        subprocess.run(stop, capture_output=True, timeout=120)  # NOTE: a failed start leaves mounts behind
        require_capability(f"a second engine did not start: {proc.stderr.strip()[-300:]}")
    host = proc.stdout.strip().splitlines()[-1].removeprefix("DOCKER_HOST=")
    client = docker.DockerClient(base_url=host)
    try:
        yield DockerEngine(host=host, client=client, directory=directory)
    finally:
        client.close()
        subprocess.run(stop, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def nvidia_engine(docker_engine):
    """An engine whose daemon.json defines the nvidia runtime (its binary is absent on this machine)."""
    config = fixture_text("daemon_json", "nvidia_ctk_default.json")
    with private_engine(short_dir(), config) as engine:
        yield engine, config


def test_file_matches_a_daemon_that_loaded_it(invoke, nvidia_engine, fake_bin, sysroot):
    engine, config = nvidia_engine
    assert "nvidia" in engine.client.info()["Runtimes"]
    sysroot.write("/etc/docker/daemon.json", config)
    _, grouped = doctor(invoke, base_env(fake_bin, DOCKER_HOST=engine.host), "--sysroot", str(sysroot.root))
    assert grouped["container.daemon_restart"][0]["status"] == "pass"
    assert "nvidia" in grouped["container.daemon"][0]["data"]["runtimes"]


def test_engine_errors_match_the_recorded_patterns(nvidia_engine):
    """The engine's own words for an unknown runtime and a missing runtime binary are classified."""
    import docker

    engine, _ = nvidia_engine
    client = engine.client
    image = import_stand_in(engine, f"gpucheck/stand-in:{uuid.uuid4().hex[:8]}")
    label = {SMOKE_LABEL: "pattern-test"}
    try:
        with pytest.raises(docker.errors.APIError) as unknown:
            client.containers.run(image, ["true"], runtime="no-such-runtime", labels=label, remove=True)
        assert classify_smoke_error(str(unknown.value))[0] is SmokeFailure.UNKNOWN_RUNTIME
        with pytest.raises(docker.errors.APIError) as missing:
            client.containers.run(image, ["true"], runtime="nvidia", labels=label, network_disabled=True)
        kind, detail = classify_smoke_error(str(missing.value))
        assert kind is SmokeFailure.RUNTIME_NOT_FOUND, str(missing.value)
        assert detail == "nvidia-container-runtime"
    finally:
        for container in client.containers.list(all=True, filters={"label": f"{SMOKE_LABEL}=pattern-test"}):
            container.remove(force=True)
        client.images.remove(image, force=True)


def test_smoke_run_fails_like_a_gpu_less_host_and_cleans_up(invoke, docker_engine, engine_env):
    client = docker_engine.client
    image = import_stand_in(docker_engine, f"gpucheck/smoke-stand-in:{uuid.uuid4().hex[:8]}")
    try:
        result, grouped = doctor(invoke, engine_env, "--container-smoke", "--smoke-image", image)
    finally:
        client.images.remove(image, force=True)
    (finding,) = grouped["container.smoke"]
    assert finding["status"] == "fail" and finding["data"] == {"failure": "no_gpu_device_driver"}
    assert 'could not select device driver "" with capabilities: [[gpu]]' in finding["summary"]
    assert "nvidia-container-toolkit" in finding["remediation"]
    assert install_toolkit(Host()).split(", then ")[-1] in finding["remediation"]  # configure + restart
    assert labelled(client) == []  # the container that failed to start was removed


def test_smoke_default_image_follows_the_driver_cuda_version(invoke, docker_engine, engine_env, fake_bin):
    fake_bin.add("nvidia-smi", fixture_text("toolkit", "nvidia-smi-header-550.txt"))
    client = docker_engine.client
    # NOTE: the tag follows the driver's CUDA version; another test may already have it: leave theirs alone
    ours = not any(STAND_IN in image.tags for image in client.images.list())
    if ours:
        import_stand_in(docker_engine)
    try:
        _, grouped = doctor(invoke, engine_env, "--container-smoke")
    finally:
        if ours:
            client.images.remove(STAND_IN, force=True)
    (finding,) = grouped["container.smoke"]
    assert STAND_IN in finding["summary"] and finding["data"] == {"failure": "no_gpu_device_driver"}
    assert labelled(client) == []


def test_smoke_image_that_cannot_be_pulled(invoke, docker_engine, engine_env):
    image = f"gpucheck/not-a-real-image:{uuid.uuid4().hex[:8]}"
    _, grouped = doctor(invoke, engine_env, "--container-smoke", "--smoke-image", image)
    (finding,) = grouped["container.smoke"]
    assert finding["status"] == "fail" and finding["data"] == {"failure": "image_unavailable"}
    assert finding["remediation"].startswith(f"docker pull {image}")
    assert labelled(docker_engine.client) == []


def test_cdi_with_a_spec_of_our_own(invoke, modern_docker_engine, fake_bin, sysroot):
    """dockerd >= 25, features.cdi and our spec dir: docker info lists it and the device injects."""
    import docker

    engine = modern_docker_engine
    version = engine.client.version()["Version"]
    assert int(version.split(".")[0]) >= 25, f"the modern engine is dockerd {version}"
    spec_dir = engine.cdi_spec_dir
    spec = fixture_text("cdi", "fake-gpu.yaml")
    spec_file = spec_dir / "gpucheck-test.yaml"
    # The engine rereads its spec dirs on each injection, so a spec written now is seen without a restart.
    spec_file.write_text(spec)
    client = engine.client
    image = import_stand_in(engine, "gpucheck/cdi-stand-in:1")
    try:
        assert client.info()["CDISpecDirs"] == [str(spec_dir)]
        request = docker.types.DeviceRequest(driver="cdi", device_ids=["nvidia.com/gpu=all"])
        out = client.containers.run(
            image,
            ["sh", "-c", "echo $GPC_FAKE_GPU"],
            device_requests=[request],
            remove=True,
            network_disabled=True,
        )
        assert out.decode().strip() == "all"
        sysroot.write("/etc/cdi/gpucheck-test.yaml", spec)
        env = base_env(fake_bin, DOCKER_HOST=engine.host)
        _, grouped = doctor(invoke, env, "--sysroot", str(sysroot.root))
    finally:
        spec_file.unlink()
        client.images.remove(image, force=True)
    assert f"CDI spec dirs: {spec_dir}" in grouped["container.daemon"][0]["summary"]
    (cdi,) = grouped["container.cdi"]
    assert cdi["status"] == "pass" and cdi["data"]["devices"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=all"]
