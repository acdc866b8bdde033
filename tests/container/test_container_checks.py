"""The container layer end to end: fake toolkit binaries, sysroot trees, the real CLI and collectors."""

from __future__ import annotations

import json

import pytest

from gpucheck.collect.evidence import Value
from gpucheck.diagnose.checks.container_advice import CONFIGURE, DOCKER_GROUP, GENERATE_CDI, START_DOCKER
from gpucheck.diagnose.finding import Status
from tests.conftest import base_env, findings_by_check
from tests.container.conftest import (
    MISSING_SOCKET,
    container_evidence,
    findings,
    fixture_text,
    install_toolkit,
    load_driver,
)


def doctor_json(invoke, root, env):
    result = invoke("doctor", "--only", "container", "--json", "--sysroot", str(root.root), env=env)
    return result, findings_by_check(result.json())


def status(grouped, check_id):
    return [f["status"] if isinstance(f, dict) else f.status.value for f in grouped[check_id]]


def test_no_docker_at_all_skips_every_container_check(invoke, fake_bin, sysroot):
    env = base_env(fake_bin, DOCKER_HOST=MISSING_SOCKET)
    env["PATH"] = str(fake_bin.path)  # no docker CLI, no dockerd
    env.pop("DOCKER_HOST")
    result, grouped = doctor_json(invoke, sysroot, env)
    assert result.exit_code == 0
    for check_id in (
        "container.toolkit",
        "container.daemon_json",
        "container.nvidia_runtime",
        "container.daemon",
    ):
        (finding,) = grouped[check_id]
        assert finding["status"] == "skip", check_id
        assert "Docker is not installed" in finding["summary"]


def test_healthy_toolkit_and_config_with_daemon_down(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "nvidia_ctk_default.json"))
    result, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    assert result.exit_code == 0  # a stopped daemon warns: exit 0 without --strict
    (toolkit,) = grouped["container.toolkit"]
    assert toolkit["status"] == "pass"
    assert (
        "nvidia-ctk 1.17.8" in toolkit["summary"] and "nvidia-container-runtime 1.17.8" in toolkit["summary"]
    )
    (info,) = grouped["container.cli_info"]
    assert info["status"] == "pass" and "384.130" in info["summary"] and "GeForce 920M" in info["summary"]
    assert status(grouped, "container.daemon_json") == ["pass"]
    (runtime,) = grouped["container.nvidia_runtime"]
    assert runtime["status"] == "pass"
    assert "/usr/bin/nvidia-container-runtime" in runtime["summary"] and "`args`" in runtime["summary"]
    (daemon,) = grouped["container.daemon"]
    assert daemon["status"] == "warn" and MISSING_SOCKET in daemon["summary"]
    assert daemon["remediation"] == START_DOCKER
    assert status(grouped, "container.daemon_restart") == ["skip"]
    assert status(grouped, "container.smoke") == ["skip"]


def test_toolkit_missing_with_driver_and_docker(invoke, fake_bin, sysroot):
    load_driver(sysroot)
    result, grouped = doctor_json(invoke, sysroot, base_env(fake_bin, DOCKER_HOST=MISSING_SOCKET))
    (toolkit,) = grouped["container.toolkit"]
    assert toolkit["status"] == "fail"
    assert 'could not select device driver "" with capabilities: [[gpu]]' in toolkit["summary"]
    assert "sudo apt-get install -y nvidia-container-toolkit" in toolkit["remediation"]
    (runtime,) = grouped["container.nvidia_runtime"]
    assert runtime["status"] == "warn" and runtime["remediation"] == CONFIGURE
    assert "unknown or invalid runtime name: nvidia" in runtime["summary"]


def test_toolkit_missing_without_driver_is_not_a_failure(invoke, fake_bin, sysroot):
    _, grouped = doctor_json(invoke, sysroot, base_env(fake_bin, DOCKER_HOST=MISSING_SOCKET))
    assert status(grouped, "container.toolkit") == ["skip"]
    assert "no NVIDIA driver" in grouped["container.toolkit"][0]["summary"]


def test_incomplete_toolkit_warns(invoke, gpu_host):
    fake, root = gpu_host
    (root.root / "usr/bin/nvidia-container-runtime-hook").unlink()
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (toolkit,) = grouped["container.toolkit"]
    assert toolkit["status"] == "warn" and "nvidia-container-runtime-hook not found" in toolkit["summary"]


def test_cli_info_libnvidia_ml_failure(invoke, fake_bin, sysroot):
    load_driver(sysroot)
    install_toolkit(fake_bin, sysroot, info=("", fixture_text("toolkit", "cli-info-libnvidia-ml.txt"), 1))
    _, grouped = doctor_json(invoke, sysroot, base_env(fake_bin, DOCKER_HOST=MISSING_SOCKET))
    (info,) = grouped["container.cli_info"]
    assert info["status"] == "fail" and "libnvidia-ml.so.1" in info["summary"]
    assert "ldconfig -p | grep libnvidia-ml.so.1" in info["remediation"]


def test_cli_info_driver_timeout(invoke, fake_bin, sysroot):
    load_driver(sysroot)
    install_toolkit(fake_bin, sysroot, info=("", fixture_text("toolkit", "cli-info-driver-timeout.txt"), 1))
    _, grouped = doctor_json(invoke, sysroot, base_env(fake_bin, DOCKER_HOST=MISSING_SOCKET))
    assert "sudo nvidia-smi -pm 1" in grouped["container.cli_info"][0]["remediation"]


def test_trailing_comma_quotes_position(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "trailing_comma.json"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (finding,) = grouped["container.daemon_json"]
    assert finding["status"] == "fail"
    assert "(line 7, column 5)" in finding["summary"] and "trailing comma" in finding["summary"]
    assert "line 7, column 5 of /etc/docker/daemon.json" in finding["remediation"]
    assert finding["data"] == {"line": 7, "column": 5, "reason": finding["data"]["reason"]}
    assert status(grouped, "container.nvidia_runtime") == ["skip"]


def test_default_runtime_without_definition(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "default_without_definition.json"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (finding,) = grouped["container.daemon_json"]
    assert finding["status"] == "fail"
    assert "specified default runtime 'nvidia' does not exist" in finding["summary"]
    assert "gpucheck setup docker --apply" in finding["remediation"]


def test_non_object_and_commented_files_fail(invoke, gpu_host):
    fake, root = gpu_host
    for name, needle in (("toplevel_array.json", "top level is an array"), ("comments.json", "comments")):
        root.write("/etc/docker/daemon.json", fixture_text("daemon_json", name))
        _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
        (finding,) = grouped["container.daemon_json"]
        assert finding["status"] == "fail" and needle in finding["summary"], name


def test_legacy_spelling_passes_and_names_it(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "legacy_runtimeargs.json"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (runtime,) = grouped["container.nvidia_runtime"]
    assert runtime["status"] == "pass" and "legacy `runtimeArgs`" in runtime["summary"]


def test_unresolvable_runtime_path_fails(invoke, gpu_host):
    fake, root = gpu_host
    (root.root / "usr/bin/nvidia-container-runtime").unlink()
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "nvidia_ctk_default.json"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (runtime,) = grouped["container.nvidia_runtime"]
    assert runtime["status"] == "fail"
    assert 'exec: "nvidia-container-runtime": executable file not found in $PATH' in runtime["summary"]
    absolute = '{"runtimes": {"nvidia": {"path": "/opt/nvidia/bin/nvidia-container-runtime"}}}'
    root.write("/etc/docker/daemon.json", absolute)
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    assert "does not exist" in grouped["container.nvidia_runtime"][0]["summary"]
    root.write("/opt/nvidia/bin/nvidia-container-runtime", "#!/bin/sh\n", mode=0o755)
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    assert status(grouped, "container.nvidia_runtime") == ["pass"]


def test_non_empty_args_are_ignored_by_dockerd(invoke, gpu_host):
    fake, root = gpu_host
    root.write(
        "/etc/docker/daemon.json",
        '{"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": ["--debug"]}}}',
    )
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (runtime,) = grouped["container.nvidia_runtime"]
    assert runtime["status"] == "warn" and "runtimeArgs" in runtime["remediation"]


def test_cdi_spec_devices_and_missing_hook(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/cdi/nvidia.yaml", fixture_text("cdi", "nvidia.yaml"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    by_status = {f["status"]: f for f in grouped["container.cdi"]}
    assert "/usr/bin/nvidia-cdi-hook" in by_status["fail"]["summary"]
    assert "nvidia.com/gpu=all" in by_status["pass"]["summary"]
    root.write("/usr/bin/nvidia-cdi-hook", "#!/bin/sh\n", mode=0o755)
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    assert status(grouped, "container.cdi") == ["pass"]
    assert grouped["container.cdi"][0]["data"]["devices"][0] == "nvidia.com/gpu=0"


def test_cdi_broken_spec_and_custom_spec_dir(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", '{"cdi-spec-dirs": ["/srv/cdi"]}')
    root.write("/srv/cdi/broken.yaml", fixture_text("cdi", "broken.yaml"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (finding,) = grouped["container.cdi"]
    assert finding["status"] == "fail" and "/srv/cdi/broken.yaml" in finding["summary"]
    assert "line" in finding["summary"] and GENERATE_CDI in finding["remediation"]


def test_cdi_enabled_without_gpu_spec_warns(invoke, gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "with_cdi.json"))
    _, grouped = doctor_json(invoke, root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (finding,) = grouped["container.cdi"]
    assert finding["status"] == "warn" and finding["remediation"] == GENERATE_CDI


# `docker info` as recorded (docker.md B4, dockerd 20.10; doctor-anchors "docker info without nvidia")
INFO_WITH_NVIDIA = {
    "io.containerd.runc.v2": {"path": "runc"},
    "io.containerd.runtime.v1.linux": {"path": "runc"},
    "nvidia": {"path": "nvidia-container-runtime"},
    "runc": {"path": "runc"},
}
INFO_WITHOUT_NVIDIA = {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}}


def live(runtimes, default="runc", cdi_dirs=None, version="20.10.24"):
    info = {"ServerVersion": version, "Runtimes": runtimes, "DefaultRuntime": default}
    if cdi_dirs is not None:
        info["CDISpecDirs"] = cdi_dirs
    return Value(name="docker_daemon", data={"reachable": True, "docker_host": None, "info": info})


def test_file_edited_but_daemon_not_restarted(gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "nvidia_ctk_set_as_default.json"))
    evidence = container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    evidence.add([live(INFO_WITHOUT_NVIDIA)])
    (finding,) = findings(evidence)["container.daemon_restart"]
    assert finding.status is Status.FAIL
    assert "nvidia are in the file but not in the daemon's Runtimes" in finding.summary
    assert "'nvidia' in the file but 'runc' in the daemon" in finding.summary
    assert finding.remediation.startswith("sudo systemctl restart docker")
    evidence.add([live(INFO_WITH_NVIDIA, default="nvidia")])
    assert findings(evidence)["container.daemon_restart"][0].status is Status.PASS


def test_cdi_on_in_file_but_not_in_daemon(gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "with_cdi.json"))
    evidence = container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    evidence.add([live(INFO_WITH_NVIDIA, default="nvidia", version="26.1.5")])
    (finding,) = findings(evidence)["container.daemon_restart"]
    assert finding.status is Status.FAIL and "features.cdi is true" in finding.summary
    evidence.add(
        [live(INFO_WITH_NVIDIA, default="nvidia", version="26.1.5", cdi_dirs=["/etc/cdi", "/var/run/cdi"])]
    )
    assert findings(evidence)["container.daemon_restart"][0].status is Status.PASS


def test_permission_denied_mapping_from_recorded_text(gpu_host):
    fake, root = gpu_host
    evidence = container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    error = (
        "DockerException: Error while fetching server API version: ('Connection aborted.', "
        "PermissionError(13, 'Permission denied'))"
    )
    evidence.add([Value(name="docker_daemon", data={"reachable": False, "sdk_installed": True}, error=error)])
    (finding,) = findings(evidence)["container.daemon"]
    assert finding.status is Status.FAIL and finding.remediation == DOCKER_GROUP
    assert DOCKER_GROUP.startswith("sudo usermod -aG docker $USER")


def test_sdk_not_installed_is_evidence_not_a_crash(gpu_host, monkeypatch):
    import sys

    fake, root = gpu_host
    monkeypatch.setitem(sys.modules, "docker", None)  # makes `import docker` fail as if it were not installed
    evidence = container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    item = evidence.value("docker_daemon")
    assert item.data["sdk_installed"] is False and "docker" in item.error
    (finding,) = findings(evidence)["container.daemon"]
    assert finding.status is Status.WARN and "pip install 'docker>=7.1'" in finding.remediation


def test_snapshot_round_trip_keeps_container_verdicts(invoke, gpu_host, tmp_path):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "trailing_comma.json"))
    env = base_env(fake, DOCKER_HOST=MISSING_SOCKET)
    snap = tmp_path / "snap.json"
    assert (
        invoke(
            "snapshot", "--only", "container", "-o", str(snap), "--sysroot", str(root.root), env=env
        ).exit_code
        == 0
    )
    replayed = invoke("doctor", "--replay", str(snap), "--only", "container", "--json", env=env)
    grouped = findings_by_check(json.loads(replayed.stdout))
    assert grouped["container.daemon_json"][0]["data"]["line"] == 7


SMI_HEADER = (
    "| NVIDIA-SMI 455.23.04    Driver Version: 455.23.04    CUDA Version: 11.1     |"  # doctor-anchors
)


def smoke(explanation: str | None = None, *, stage="start", exit_code=None, stdout="", cleanup_errors=()):
    data = {
        "requested": True,
        "image": "nvidia/cuda:12.8.0-base-ubuntu22.04",
        "run_id": "abc",
        "stage": stage,
        "cleanup": {"removed": ["c1"], "errors": list(cleanup_errors)},
    }
    error = None
    if explanation is not None:
        data["explanation"] = explanation
        url = "http+docker://localhost/v1.41/containers/c1/start"
        error = f'APIError: 500 Server Error for {url}: ("{explanation}")'
    if exit_code is not None:
        data.update(exit_code=exit_code, stdout=stdout, stderr="")
    return Value(name="container_smoke", data=data, error=error)


def smoke_findings(gpu_host, value):
    fake, root = gpu_host
    evidence = container_evidence(
        root, base_env(fake, DOCKER_HOST=MISSING_SOCKET), {"container_smoke": False}
    )
    evidence.add([value])
    return findings(evidence)["container.smoke"]


def test_smoke_not_requested_is_skipped_with_the_flag_to_use(gpu_host):
    fake, root = gpu_host
    evidence = container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET))
    (finding,) = findings(evidence)["container.smoke"]
    assert finding.status is Status.SKIP and "--container-smoke" in finding.summary


@pytest.mark.parametrize(
    ("explanation", "failure", "remedy"),
    [
        (
            'could not select device driver "" with capabilities: [[gpu]]',
            "no_gpu_device_driver",
            "sudo apt-get install -y nvidia-container-toolkit",
        ),
        ("unknown or invalid runtime name: nvidia", "unknown_runtime", "gpucheck setup docker --apply"),
        (
            "failed to create shim task: OCI runtime create failed: nvidia-container-cli: requirement error: "
            "unsatisfied condition: cuda>=12.8, please update your driver to a newer version, "
            "or use an earlier cuda "
            "container: unknown",
            "cuda_requirement",
            "Upgrade the host driver to one supporting CUDA 12.8",
        ),
        (
            "failed to create shim task: OCI runtime create failed: nvidia-container-cli: "
            "initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: "
            "no such file or directory: unknown",
            "nvml_not_loadable",
            "ldconfig -p | grep libnvidia-ml.so.1",
        ),
    ],
)
def test_smoke_failures_are_interpreted(gpu_host, explanation, failure, remedy):
    (finding,) = smoke_findings(gpu_host, smoke(explanation))
    assert finding.status is Status.FAIL and finding.data == {"failure": failure}
    assert remedy in finding.remediation and explanation in finding.summary


def test_smoke_pass_and_leftover_containers(gpu_host):
    ok, leftover = smoke_findings(
        gpu_host, smoke(exit_code=0, stdout=SMI_HEADER + "\n", cleanup_errors=["c9: gone"])
    )
    assert ok.status is Status.PASS and "NVIDIA-SMI 455.23.04" in ok.summary
    assert leftover.status is Status.WARN and "label=io.gpucheck.smoke" in leftover.remediation


def test_smoke_nvidia_smi_failing_inside_the_container(gpu_host):
    (finding,) = smoke_findings(
        gpu_host, smoke(exit_code=255, stdout="Failed to initialize NVML: Unknown Error\n")
    )
    assert finding.status is Status.FAIL and finding.data == {"failure": "nvidia_smi_failed"}


def test_rootless_daemon_is_compared_with_the_users_daemon_json(gpu_host):
    fake, root = gpu_host
    root.write("/etc/docker/daemon.json", fixture_text("daemon_json", "nvidia_ctk_default.json"))
    root.write("/home/ada/.config/docker/daemon.json", "{}")
    evidence = container_evidence(root, base_env(fake, DOCKER_HOST=MISSING_SOCKET, HOME="/home/ada"))
    assert evidence.file("/home/ada/.config/docker/daemon.json").content == "{}"
    value = live(INFO_WITHOUT_NVIDIA)
    value.data["info"]["SecurityOptions"] = ["name=seccomp,profile=default", "name=rootless"]
    evidence.add([value])
    grouped = findings(evidence)
    # the rootless daemon reads ~/.config/docker/daemon.json, which defines no nvidia runtime
    assert grouped["container.daemon_restart"][0].status is Status.PASS
    assert grouped["container.nvidia_runtime"][0].status is Status.WARN
    assert "/home/ada/.config/docker/daemon.json" in grouped["container.nvidia_runtime"][0].summary


def test_xdg_config_home_moves_the_rootless_file(gpu_host):
    fake, root = gpu_host
    root.write("/cfg/docker/daemon.json", '{"debug": true}')
    env = base_env(fake, DOCKER_HOST=MISSING_SOCKET, XDG_CONFIG_HOME="/cfg")
    evidence = container_evidence(root, env)
    assert evidence.file("/cfg/docker/daemon.json").content == '{"debug": true}'


def test_smoke_requested_with_the_daemon_down_is_skipped(invoke, gpu_host):
    fake, root = gpu_host
    env = base_env(fake, DOCKER_HOST=MISSING_SOCKET)
    result = invoke(
        "doctor", "--only", "container.smoke", "--json", "--container-smoke", "--smoke-image", "x:1", env=env
    )
    (finding,) = findings_by_check(result.json())["container.smoke"]
    assert finding["status"] == "skip" and "could not be reached" in finding["summary"]
