"""The daemon's socket failing for real: missing, refused, and permission denied (EACCES), through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from gpucheck.diagnose.checks.container_advice import DOCKER_GROUP, START_DOCKER
from tests.conftest import base_env, findings_by_check


def doctor_daemon(env, prefix=()):
    argv = [*prefix, sys.executable, "-m", "gpucheck", "doctor", "--only", "container.daemon", "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    (finding,) = findings_by_check(json.loads(proc.stdout))["container.daemon"]
    return proc.returncode, finding


def test_missing_socket(tmp_path):
    code, finding = doctor_daemon(base_env(DOCKER_HOST=f"unix://{tmp_path}/docker.sock"))
    # A stopped daemon only matters for container work: a warning, so exit 0 unless --strict.
    assert code == 0 and finding["status"] == "warn"
    assert finding["data"]["error_kind"] == "socket_missing" and finding["remediation"] == START_DOCKER


def test_stale_socket_is_refused(tmp_path):
    path = str(tmp_path / "docker.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.close()  # the file stays, nothing listens: what a crashed dockerd leaves behind
    code, finding = doctor_daemon(base_env(DOCKER_HOST=f"unix://{path}"))
    assert finding["status"] == "fail" and finding["data"]["error_kind"] == "refused"
    assert finding["remediation"].startswith("sudo systemctl restart docker")


def test_permission_denied_for_real(tmp_path):
    """A socket owned by another user, mode 0600; root is stripped of CAP_DAC_OVERRIDE so EACCES is real."""
    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    prefix: tuple[str, ...] = ()
    try:
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv(1) to drop CAP_DAC_OVERRIDE")
            os.chown(path, 65534, 65534)
            prefix = ("setpriv", "--inh-caps=-all", "--bounding-set=-all")
        os.chmod(path, 0o600 if os.geteuid() == 0 else 0o000)
        code, finding = doctor_daemon(base_env(DOCKER_HOST=f"unix://{path}"), prefix)
    finally:
        server.close()
    assert code == 1 and finding["status"] == "fail"
    assert "PermissionError(13, 'Permission denied')" in finding["summary"]
    assert finding["data"]["error_kind"] == "permission_denied"
    assert finding["remediation"] == DOCKER_GROUP
    assert (
        "sudo usermod -aG docker $USER" in finding["remediation"]
        and "log out and back in" in finding["remediation"]
    )
