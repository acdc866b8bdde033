"""Container facts from the knowledge table, through the real collectors and checks.

Docker >= 29.2 serves --gpus through CDI when nvidia-cdi-hook is on PATH (moby PR #50228); rootless dockerd
>= 29.3 also reads $XDG_CONFIG_HOME/cdi and $XDG_RUNTIME_DIR/cdi (Docker 29.3.0 release notes).
"""

from __future__ import annotations

from gpucheck.collect.evidence import Value
from gpucheck.collect.sources.cdi import rootless_spec_dirs
from gpucheck.diagnose.finding import Status
from tests.conftest import base_env
from tests.container.conftest import MISSING_SOCKET, container_evidence, findings


def daemon(version: str) -> Value:
    info = {"ServerVersion": version, "Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc"}
    return Value(name="docker_daemon", data={"reachable": True, "docker_host": None, "info": info})


def without_legacy_hook(gpu_host):
    fake, root = gpu_host
    (root.root / "usr/bin/nvidia-container-runtime-hook").unlink()
    root.write("/usr/bin/nvidia-cdi-hook", "#!/bin/sh\n", mode=0o755)
    return container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))


def test_docker_29_2_with_nvidia_cdi_hook_needs_no_runtime_hook(gpu_host):
    evidence = without_legacy_hook(gpu_host)
    evidence.add([daemon("29.2.0")])
    (toolkit,) = findings(evidence)["container.toolkit"]
    assert toolkit.status is Status.PASS
    assert "serves --gpus through CDI with nvidia-cdi-hook (Docker >= 29.2.0)" in toolkit.summary


def test_older_docker_still_needs_the_runtime_hook(gpu_host):
    evidence = without_legacy_hook(gpu_host)
    evidence.add([daemon("29.1.3")])
    (toolkit,) = findings(evidence)["container.toolkit"]
    assert toolkit.status is Status.WARN and "nvidia-container-runtime-hook not found" in toolkit.summary


def test_rootless_cdi_directories_come_from_the_environment():
    env = {"HOME": "/home/ana", "XDG_RUNTIME_DIR": "/run/user/1000"}
    assert rootless_spec_dirs(env) == ["/home/ana/.config/cdi", "/run/user/1000/cdi"]
    assert rootless_spec_dirs({"XDG_CONFIG_HOME": "/cfg"}) == ["/cfg/cdi"]
    assert rootless_spec_dirs({}) == []


def test_a_spec_in_the_users_runtime_dir_is_scanned(gpu_host):
    fake, root = gpu_host
    root.write("/run/user/1000/cdi/nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n")
    env = base_env(fake, DOCKER_HOST=MISSING_SOCKET, XDG_RUNTIME_DIR="/run/user/1000")
    evidence = container_evidence(root, env)
    listing = evidence.dir("/run/user/1000/cdi")
    assert listing is not None and "nvidia.yaml" in listing.entries
    assert "/run/user/1000/cdi" in evidence.value("cdi_spec_dirs").data["dirs"]
