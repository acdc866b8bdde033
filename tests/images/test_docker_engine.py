"""The private Docker engine the docker-marked tests share, and scripts/docker-engine.sh's edge cases."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docker_engine import ENGINE_SCRIPT, DockerEngine, busybox_rootfs


def test_status_reports_not_running_for_an_empty_directory(tmp_path: Path) -> None:
    out = subprocess.run(
        ["bash", str(ENGINE_SCRIPT), "status", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert f"no engine answers on {tmp_path}/docker.sock" in out.stdout


def test_start_without_dockerd_exits_3_with_the_install_hint(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    out = subprocess.run(
        ["/bin/bash", str(ENGINE_SCRIPT), "start", str(tmp_path / "engine")],
        capture_output=True,
        text=True,
        env={"PATH": str(empty)},
    )
    assert out.returncode == 3
    assert "dockerd is not installed: run scripts/install-docker-engine.sh" in out.stderr
    assert not (tmp_path / "engine").exists()


def test_unknown_action_is_a_usage_error() -> None:
    out = subprocess.run(["bash", str(ENGINE_SCRIPT), "restart"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "usage:" in out.stderr


def test_busybox_rootfs_is_deterministic() -> None:
    extra = {"/usr/bin/nvidia-smi": (b"#!/bin/sh\necho recorded\n", 0o755)}
    assert busybox_rootfs(extra) == busybox_rootfs(extra)
    assert busybox_rootfs(extra) != busybox_rootfs()


@pytest.mark.docker
def test_engine_answers_and_reports_its_socket(docker_engine: DockerEngine) -> None:
    assert docker_engine.client.ping() is True
    assert docker_engine.socket_path.is_socket()
    status = subprocess.run(
        ["bash", str(ENGINE_SCRIPT), "status", str(docker_engine.socket_path.parent)],
        capture_output=True,
        text=True,
    )
    assert status.returncode == 0, status.stdout
    assert docker_engine.env({})["DOCKER_HOST"] == docker_engine.host


@pytest.mark.docker
def test_stand_in_tag_runs_offline_without_a_network(docker_engine: DockerEngine) -> None:
    tag = "nvidia/cuda:12.4.1-base-ubuntu22.04"
    message = b"NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver."
    script = b"#!/bin/sh\necho '" + message + b"'\nexit 9\n"
    docker_engine.import_rootfs(busybox_rootfs({"/usr/bin/nvidia-smi": (script, 0o755)}), tag)
    try:
        out = docker_engine.client.containers.run(
            tag, ["/bin/sh", "-c", "echo hi; id -u"], network_mode="none", remove=True
        )
        assert out == b"hi\n0\n"
        container = docker_engine.client.containers.create(tag, ["/usr/bin/nvidia-smi"], network_mode="none")
        try:
            container.start()
            assert container.wait(timeout=30)["StatusCode"] == 9
            assert b"could not communicate with the NVIDIA driver" in container.logs()
        finally:
            container.remove(force=True)
    finally:
        docker_engine.client.images.remove(tag, force=True)
