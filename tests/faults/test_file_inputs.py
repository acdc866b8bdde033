"""Every file a user names × FIFO, device, huge, symlink loop, directory, unreadable, not UTF-8.

``doctor --replay``, ``doctor --config`` and ``setup docker --config`` must refuse each with exit 2 and one
line, at once (a FIFO must not block the open, /dev/zero must not be read until memory runs out). Files read
under ``--sysroot`` (daemon.json) become findings instead, and links inside a sysroot resolve inside it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import findings_by_check
from tests.faults.harness import DEADLINE_MARGIN_S, fault_env, run_cli, without_root_powers


def _fifo(tmp: Path) -> Path:
    path = tmp / "input.fifo"
    os.mkfifo(path)
    return path


def _huge(tmp: Path) -> Path:
    path = tmp / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # NOTE: sparse: larger than every limit, costs no disk
    return path


def _loop(tmp: Path) -> Path:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return tmp / "a"


def _directory(tmp: Path) -> Path:
    path = tmp / "dir.json"
    path.mkdir()
    return path


def _latin1(tmp: Path) -> Path:
    path = tmp / "latin1.json"
    path.write_bytes(b'{"caf\xe9": 1}')
    return path


HOSTILE_FILES: dict[str, Callable[[Path], Path]] = {
    "fifo": _fifo,
    "dev-zero": lambda _tmp: Path("/dev/zero"),
    "huge": _huge,
    "symlink-loop": _loop,
    "directory": _directory,
    "missing": lambda tmp: tmp / "missing.json",
    "not-utf8": _latin1,
}

COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "doctor --replay": lambda p: ["doctor", "--replay", str(p)],
    "doctor --config": lambda p: ["doctor", "--config", str(p), "--only", "environ"],
    "setup docker --config": lambda p: ["setup", "docker", "--config", str(p)],
    "setup docker --config --apply": lambda p: ["setup", "docker", "--config", str(p), "--apply"],
}


@pytest.mark.parametrize("kind", HOSTILE_FILES)
@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_file_is_refused_at_once_with_exit_2(command: str, kind: str, tmp_path: Path) -> None:
    path = HOSTILE_FILES[kind](tmp_path)
    if kind == "missing" and command.startswith("setup"):
        pytest.skip("a missing daemon.json is created, not refused (tested in tests/fix)")
    run = run_cli(*COMMANDS[command](path), env=fault_env(tmp_path), timeout=120)
    run.assert_clean(2)
    assert run.wall_s < DEADLINE_MARGIN_S, f"took {run.wall_s:.1f} s"
    assert not list(tmp_path.glob("*.bak")) and not list(tmp_path.glob(".*gpucheck-tmp")), (
        "something was written"
    )


def test_unreadable_files_are_refused_with_exit_2(tmp_path: Path) -> None:
    files = {"replay": tmp_path / "snap.json", "config": tmp_path / "gpucheck.toml"}
    for path in files.values():
        path.write_text("{}")
        path.chmod(0o000)
    for argv in (["doctor", "--replay", str(files["replay"])], ["doctor", "--config", str(files["config"])]):
        full = without_root_powers([sys.executable, "-m", "gpucheck", *argv])
        if full is None:
            pytest.skip("running as root without setpriv(1) to drop CAP_DAC_OVERRIDE")
        proc = subprocess.run(full, capture_output=True, text=True, timeout=120, env=fault_env(tmp_path))
        assert proc.returncode == 2, proc.stderr
        # NOTE: typer's own check of the option may catch it first ("path ... is not readable")
        assert "Permission denied" in proc.stderr or "readable" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def _container_findings(root: Path, tmp_path: Path) -> dict[str, list[dict]]:
    run = run_cli("doctor", "--json", "--only", "container", "--sysroot", str(root), env=fault_env(tmp_path))
    run.assert_clean(0, 1)
    return findings_by_check(json.loads(run.stdout))


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink-loop"])
def test_daemon_json_under_sysroot_that_cannot_be_read_is_a_finding(kind: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    target = root / "etc/docker/daemon.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        if os.geteuid() != 0:
            pytest.skip("creating a character device needs root")
        os.mknod(target, 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # NOTE: the same device as /dev/zero
    else:
        target.symlink_to("/etc/docker/daemon.json")  # NOTE: inside the root: a link to itself
    findings = _container_findings(root, tmp_path)
    text = json.dumps(findings["container.daemon_json"])
    assert "daemon.json" in text


def test_sysroot_absolute_links_stay_inside_the_root(tmp_path: Path) -> None:
    """An image's ``/etc/docker/daemon.json -> /etc/hostname`` must read the image's file, not the host's."""
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/hostname").write_text('{"default-runtime": "inside-the-image"}\n')
    (root / "etc/docker/daemon.json").symlink_to("/etc/hostname")
    out = tmp_path / "snap.json"
    run = run_cli(
        "snapshot", "-o", str(out), "--only", "container", "--sysroot", str(root), env=fault_env(tmp_path)
    )
    run.assert_clean(0)
    items = {i.get("path"): i for i in json.loads(out.read_text())["evidence"] if i["kind"] == "file"}
    assert items["/etc/docker/daemon.json"]["content"] == '{"default-runtime": "inside-the-image"}\n'
