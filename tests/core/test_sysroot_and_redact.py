import os

import pytest

from gpucheck.collect.evidence import CommandRun, Value
from gpucheck.collect.redact import REDACTED, redact_environment, scrub_item
from gpucheck.collect.sysroot import Sysroot


def test_reads_happen_under_the_sysroot_and_record_host_paths(sysroot):
    sysroot.write(
        "/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n"
    )
    root = Sysroot(str(sysroot.root))
    read = root.read("/proc/driver/nvidia/version")
    assert read.path == "/proc/driver/nvidia/version" and read.exists and "550.54.14" in read.content
    assert root.glob("/proc/driver/*").entries == ("/proc/driver/nvidia",)
    assert root.listdir("/proc/driver/nvidia").entries == ("version",)


def test_missing_directory_and_unreadable_files_are_recorded(sysroot):
    root = Sysroot(str(sysroot.root))
    assert root.read("/etc/docker/daemon.json").error == "no such file"
    sysroot.mkdir("/etc/docker/daemon.json")
    assert root.read("/etc/docker/daemon.json").error == "is a directory"
    assert root.listdir("/nope").error == "no such directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_permission_denied_is_recorded(sysroot):
    sysroot.write("/etc/secret", "x", mode=0o000)
    assert Sysroot(str(sysroot.root)).read("/etc/secret").error == "permission denied"


def test_large_files_are_truncated(sysroot):
    sysroot.write("/var/log/big", "x" * 100)
    read = Sysroot(str(sysroot.root)).read("/var/log/big", limit=10)
    assert read.truncated and read.content == "x" * 10


def test_secret_variables_are_redacted_everywhere():
    env = {
        "HF_TOKEN": "hf_abcdefghijklmnop",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "PIP_INDEX_URL": "https://user:s3cretpw@pypi.example.com/simple",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "PATH": "/usr/bin",
    }
    redacted, secrets = redact_environment(env)
    assert redacted["HF_TOKEN"] == REDACTED and redacted["AWS_SECRET_ACCESS_KEY"] == REDACTED
    assert redacted["PIP_INDEX_URL"] == f"https://user:{REDACTED}@pypi.example.com/simple"
    assert redacted["CUDA_VISIBLE_DEVICES"] == "0,1"
    leaked = CommandRun(
        argv=("python", "-c", "x"), returncode=1, stderr="token hf_abcdefghijklmnop and s3cretpw"
    )
    clean = scrub_item(leaked, secrets)
    assert "hf_abcdefghijklmnop" not in clean.stderr and "s3cretpw" not in clean.stderr
    nested = scrub_item(
        Value(name="w", data={"env": {"MY_API_KEY": "abc12345"}, "note": "wJalrXUtnFEMI/K7MDENG"}), secrets
    )
    assert nested.data == {"env": {"MY_API_KEY": REDACTED}, "note": REDACTED}


def test_permission_error_on_open_is_recorded_even_as_root(sysroot, monkeypatch):
    sysroot.write("/etc/docker/daemon.json", "{}")
    real_open = os.open

    def deny(path, *args, **kwargs):
        if str(path).endswith("daemon.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("os.open", deny)
    read = Sysroot(str(sysroot.root)).read("/etc/docker/daemon.json")
    assert read.exists and read.content is None and read.error == "permission denied"
