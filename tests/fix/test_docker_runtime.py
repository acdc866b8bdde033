"""`gpucheck setup docker`: diff without --apply, backup, atomic write, idempotence, refusals."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import datetime

import pytest

from gpucheck.fix import docker_runtime
from gpucheck.fix.docker_runtime import (
    DaemonJsonError,
    RefusedError,
    apply_plan,
    backup_path,
    plan_runtime_config,
    unified_diff,
)
from tests.conftest import FIXTURES, base_env

DAEMON = FIXTURES / "container" / "daemon_json"
USER_FILE = (
    '{\n  "log-driver": "json-file",\n  "log-opts": {"max-size": "10m", "max-file": "3"},\n'
    '  "data-root": "/srv/docker",\n  "registry-mirrors": ["https://mirror.example"],\n  "debug": false\n}\n'
)


def write(tmp_path, text, mode=0o640):
    path = tmp_path / "daemon.json"
    path.write_text(text)
    path.chmod(mode)
    return path


def setup(invoke, path, *args):
    return invoke("setup", "docker", "--config", str(path), *args, env=base_env())


def backups(path):
    return sorted(p for p in path.parent.iterdir() if ".gpucheck-" in p.name and p.name.endswith(".bak"))


def test_diff_only_without_apply_leaves_file_byte_for_byte(invoke, tmp_path):
    path = write(tmp_path, USER_FILE)
    before = path.read_bytes()
    result = setup(invoke, path)
    assert result.exit_code == 0
    assert f"--- {path}" in result.stdout and '+  "runtimes": {' in result.stdout
    assert '+      "path": "nvidia-container-runtime",' in result.stdout
    assert "dry run" in result.stdout and "--apply" in result.stdout
    assert path.read_bytes() == before and backups(path) == []


def test_apply_writes_backs_up_and_keeps_everything_else(invoke, tmp_path):
    path = write(tmp_path, USER_FILE, mode=0o640)
    result = setup(invoke, path, "--apply", "--set-default", "--cdi")
    assert result.exit_code == 0, result.stderr
    data = json.loads(path.read_text())
    original = json.loads(USER_FILE)
    assert list(data)[: len(original)] == list(original)  # untouched keys keep their order
    assert {k: data[k] for k in original} == original  # ... and their values
    assert data["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    assert data["default-runtime"] == "nvidia" and data["features"] == {"cdi": True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    (backup,) = backups(path)
    assert backup.read_text() == USER_FILE
    assert "sudo systemctl restart docker" in result.stdout and str(backup) in result.stdout
    assert path.read_text().startswith('{\n  "log-driver"')  # the file's two-space indent is kept


def test_second_run_has_nothing_to_do_and_makes_no_backup(invoke, tmp_path):
    path = write(tmp_path, USER_FILE)
    assert setup(invoke, path, "--apply", "--cdi").exit_code == 0
    after_first = path.read_bytes()
    result = setup(invoke, path, "--apply", "--cdi")
    assert result.exit_code == 0 and "nothing to do" in result.stdout
    assert path.read_bytes() == after_first and len(backups(path)) == 1


@pytest.mark.parametrize("name", ["nvidia_ctk_default.json", "legacy_runtimeargs.json"])
def test_existing_nvidia_runtime_in_either_spelling_is_left_alone(invoke, tmp_path, name):
    path = write(tmp_path, (DAEMON / name).read_text())
    result = setup(invoke, path, "--apply")
    assert "nothing to do" in result.stdout and backups(path) == []


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("trailing_comma.json", "(line 7, column 5)"),
        ("comments.json", "(line 2, column 5)"),
        ("toplevel_array.json", "top level is an array"),
    ],
)
def test_unparseable_or_non_object_files_are_refused(invoke, tmp_path, name, needle):
    path = write(tmp_path, (DAEMON / name).read_text())
    before = path.read_bytes()
    result = setup(invoke, path, "--apply")
    assert result.exit_code == 2
    assert needle in result.stderr and "nothing was changed" in result.stderr
    assert path.read_bytes() == before and backups(path) == []


def test_missing_file_is_created_with_nvidia_ctk_content(invoke, tmp_path):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    result = setup(invoke, path, "--apply", "--set-default", "--cdi")
    assert result.exit_code == 0 and "(new file)" in result.stdout
    # what `nvidia-ctk runtime configure --set-as-default --enable-cdi` writes to an empty file (docker.md B4)
    assert json.loads(path.read_text()) == {
        "default-runtime": "nvidia",
        "features": {"cdi": True},
        "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_rootless_location_gets_the_user_restart_command(invoke, tmp_path, monkeypatch):
    home = tmp_path / "home"
    path = home / ".config" / "docker" / "daemon.json"
    result = setup(invoke, path, "--apply")
    assert result.exit_code == 0 and "systemctl --user restart docker" in result.stdout


def test_runtime_path_replaces_only_when_given(tmp_path):
    text = (DAEMON / "nvidia_ctk_default.json").read_text()
    assert not plan_runtime_config("d.json", text).needed
    plan = plan_runtime_config("d.json", text, runtime_path="/usr/bin/nvidia-container-runtime")
    assert plan.changes == (
        "set runtimes.nvidia.path to /usr/bin/nvidia-container-runtime (was 'nvidia-container-runtime')",
    )
    assert json.loads(plan.updated)["runtimes"]["nvidia"] == {
        "args": [],
        "path": "/usr/bin/nvidia-container-runtime",
    }


def test_runtime_without_path_gets_one(tmp_path):
    plan = plan_runtime_config("d.json", (DAEMON / "runtime_without_path.json").read_text())
    assert json.loads(plan.updated) == {
        "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}
    }


def test_non_object_sections_are_refused():
    with pytest.raises(RefusedError, match="runtimes is not a JSON object"):
        plan_runtime_config("d.json", '{"runtimes": []}')
    with pytest.raises(RefusedError, match="features is not a JSON object"):
        plan_runtime_config("d.json", '{"features": "cdi"}', enable_cdi=True)
    with pytest.raises(DaemonJsonError, match="duplicate key"):
        plan_runtime_config("d.json", '{"debug": true, "debug": false}')


def test_failed_rename_leaves_original_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = write(tmp_path, USER_FILE)
    plan = plan_runtime_config(str(path), USER_FILE)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(docker_runtime.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        apply_plan(plan)
    assert path.read_text() == USER_FILE
    leftovers = [
        p.name for p in tmp_path.iterdir() if p.name not in {"daemon.json"} and not p.name.endswith(".bak")
    ]
    assert leftovers == []


def test_file_changed_since_planning_is_refused(tmp_path):
    path = write(tmp_path, USER_FILE)
    plan = plan_runtime_config(str(path), USER_FILE)
    path.write_text('{"debug": true}\n')
    with pytest.raises(RefusedError, match="changed since it was read"):
        apply_plan(plan)
    assert path.read_text() == '{"debug": true}\n'


def test_symlinked_config_is_written_through_the_link(tmp_path):
    real = write(tmp_path, USER_FILE)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = apply_plan(plan_runtime_config(str(link), USER_FILE))
    assert link.is_symlink() and "nvidia" in json.loads(real.read_text())["runtimes"]
    assert result.path == str(real)


def test_ownership_is_preserved(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    path = write(tmp_path, USER_FILE)
    os.chown(path, 65534, 65534)
    result = apply_plan(plan_runtime_config(str(path), USER_FILE))
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)
    backup = os.stat(result.backup)
    assert (backup.st_uid, backup.st_gid) == (65534, 65534)


def test_backup_names_never_collide(tmp_path):
    path = write(tmp_path, USER_FILE)
    now = datetime(2026, 11, 23, 9, 30, 0)
    first = backup_path(str(path), now)
    assert first == f"{path}.gpucheck-20261123T093000.bak"
    open(first, "w").close()
    assert backup_path(str(path), now) == f"{path}.gpucheck-20261123T093000-1.bak"


def without_root_powers(argv):
    """``argv`` with every capability dropped, so root gets EACCES like any user (no CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv(1) to drop CAP_DAC_OVERRIDE")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *argv]


def test_unwritable_location_exits_1_without_changes(tmp_path):
    path = write(tmp_path, USER_FILE)
    tmp_path.chmod(0o555)  # the directory refuses the temp file and the backup
    try:
        argv = without_root_powers(
            [sys.executable, "-m", "gpucheck", "setup", "docker", "--config", str(path), "--apply"]
        )
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        tmp_path.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert "Permission denied" in proc.stderr and "re-run with sudo" in proc.stderr
    assert path.read_text() == USER_FILE and backups(path) == []


def test_diff_marks_missing_final_newline():
    plan = plan_runtime_config("d.json", '{"debug": true}')
    diff = unified_diff(plan)
    assert "\\ No newline at end of file" in diff and diff.startswith("--- d.json\n+++ d.json\n")
