import os

import pytest

from gpucheck.collect.evidence import CommandRun, Value
from gpucheck.collect.redact import (
    REDACTED,
    huntable,
    is_secret_name,
    redact_environment,
    scrub_item,
    scrub_text,
    secrets_in_text,
    url_credentials,
)
from gpucheck.collect.sysroot import FileTooLargeError, Sysroot, read_regular


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


# --- redaction by value and by shape (issue 13) ---------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["MYSQL_PWD", "SMTP_PASS", "PASS", "KAGGLE_KEY", "KEY", "CI_JOB_JWT", "DD_APP_KEY", "AccountKey",
     "api-key", "GITHUB_TOKEN", "DB_PASSWORD", "SharedAccessSignature", "SENTRY_DSN", "GH_PAT"],
)  # fmt: skip
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["PWD", "OLDPWD", "SSH_AUTH_SOCK", "XDG_SESSION_ID", "PATH", "KEYBOARD", "MONKEY", "BYPASS"]
)
def test_names_that_are_not_secrets(name):
    assert not is_secret_name(name)


def test_url_password_runs_to_the_last_at_of_the_token():
    text = "a postgres://app:p/ss@w0rd@db/x b"
    ((start, end),) = url_credentials(text)
    assert text[start:end] == "p/ss@w0rd"
    assert url_credentials("redis://:pw@host") == [(9, 11)]
    assert url_credentials("https://host/a:b@c") == []  # NOTE: a ':' after a '/' is in the path
    assert url_credentials("https://host:8443/x") == []  # no '@': a port, not a password
    assert url_credentials("https://user:@host") == []  # an empty password
    assert url_credentials("x://a:b@c 'y://d:e@f'") == [(6, 7), (17, 18)]


def test_shapes_found_in_free_text():
    text = 'A_TOKEN=t0k3n-value x=1 "secret": "s\\"q" AccountKey=k/+=;rest ?password=pw&ok=1 "plain": "p"'
    found = [text[s:e] for s, e in secrets_in_text(text)]
    assert found == ["t0k3n-value", "k/+=", "pw", 's\\"q']
    assert scrub_text(f"B_TOKEN={REDACTED}", set()) == f"B_TOKEN={REDACTED}"
    assert scrub_text('"auth": ""', set()) == '"auth": ""'


def test_values_hunted_elsewhere_need_eight_characters_and_no_common_word():
    assert not huntable("1234567") and huntable("12345678")
    assert not huntable("Password") and not huntable("localhost") and not huntable("        ")
    redacted, secrets = redact_environment({"X_TOKEN": 'a"b\\c-1234', "Y": "https://u:pw-123456@h"})
    assert secrets == {'a"b\\c-1234', 'a\\"b\\\\c-1234', "a%22b%5Cc-1234", "pw-123456"}
    assert redacted["Y"] == f"https://u:{REDACTED}@h"
    clean = scrub_text('{"v": "a\\"b\\\\c-1234"} a%22b%5Cc-1234', secrets)
    assert clean == f'{{"v": "{REDACTED}"}} {REDACTED}'


def test_longest_secret_is_replaced_first():
    assert scrub_text("abcdefgh-ijkl", {"abcdefgh", "abcdefgh-ijkl"}) == REDACTED


def test_secret_keys_in_structured_values_are_redacted():
    item = Value(name="v", data={"auth": "blob", "n": 1, "empty_token": "", "list": ["x://u:secretpw@h"]})
    assert scrub_item(item, set()).data == {
        "auth": REDACTED, "n": 1, "empty_token": "", "list": [f"x://u:{REDACTED}@h"]
    }  # fmt: skip


# --- sysroot paths resolve as chroot would (issue 13) ------------------------------------------------------


def test_absolute_and_dotdot_links_stay_inside_the_sysroot(sysroot):
    sysroot.write("/usr/local/cuda-13.0/bin/nvcc", "inside", mode=0o755)
    sysroot.symlink("/usr/local/cuda", "/usr/local/cuda-13.0")
    sysroot.symlink("/etc/alternatives/cuda", "../../usr/local/cuda")
    sysroot.symlink("/escape", "../../../../../../etc")
    root = Sysroot(str(sysroot.root))
    assert root.read("/usr/local/cuda/bin/nvcc").content == "inside"
    assert root.read("/etc/alternatives/cuda/bin/nvcc").content == "inside"
    assert root.realpath("/etc/alternatives/cuda/bin/nvcc") == "/usr/local/cuda-13.0/bin/nvcc"
    assert root.is_executable("/usr/local/cuda/bin/nvcc")
    assert root.resolve("/escape/hostname") == str(sysroot.root / "etc/hostname")
    assert not root.read("/escape/hostname").exists  # NOTE: the host's /etc/hostname is never read
    assert root.glob("/usr/local/cuda*/bin/nvcc").entries == (
        "/usr/local/cuda-13.0/bin/nvcc", "/usr/local/cuda/bin/nvcc",
    )  # fmt: skip


def test_symlink_loops_are_reported_not_followed(sysroot):
    sysroot.symlink("/loop/a", "b")
    sysroot.symlink("/loop/b", "/loop/a")
    root = Sysroot(str(sysroot.root))
    read = root.read("/loop/a")
    assert read.exists and read.content is None and "symbolic links" in read.error
    assert not root.is_file("/loop/a") and not root.exists("/loop/a/x")
    assert root.listdir("/loop/a").error is not None


def test_fifos_and_devices_are_refused_without_blocking(sysroot, tmp_path):
    fifo = sysroot.root / "fifo"
    os.mkfifo(fifo)
    assert Sysroot(str(sysroot.root)).read("/fifo").error == "a FIFO (named pipe)"
    assert Sysroot().read("/dev/zero").error == "a character device"
    with pytest.raises(FileTooLargeError):
        read_regular(str(sysroot.write("/big", "x" * 100)), limit=10)
    assert read_regular(str(sysroot.root / "big"), limit=10, truncate=True) == (b"x" * 10, True)
