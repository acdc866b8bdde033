"""Every folder under tests/scenarios/ is one recorded failure case, run through the real CLI.

A scenario folder holds:

- ``bin/<name>.json``: a fake executable put first on PATH. Keys: ``stdout`` / ``stderr`` (text), or
  ``stdout_file`` / ``stderr_file`` (a path under tests/fixtures/system/, for verbatim recordings), or
  ``stdout_hex`` (raw bytes, for non-UTF-8 output); ``exit_code``; ``sleep_s``; ``by_args`` mapping an exact
  argument string to ``{"stdout"..., "exit_code"...}``; ``shebang`` to write a file whose interpreter is that
  path (``"/"`` gives a real permission error).
- ``sysroot/...``: the tree given as ``--sysroot`` (files verbatim; files in a ``bin/`` are made executable).
- ``expected.json``: ``findings`` ({check: status, or a list of statuses}), ``contains`` ({check:
  [substrings of its summaries and remediations]}), optional ``exit_code``, ``env`` (extra variables),
  ``path`` (PATH entries, ``{bin}`` for the fake executables; default ``{bin}:/usr/bin:/bin``), ``args``
  (extra doctor arguments), ``source`` (where the case comes from), ``caused_by`` ({check: [the root
  check ids its findings name]}; ``[]`` for a root cause).

A new failure case is a new folder; this file does not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeBin, base_env, findings_by_check
from tests.namespace_runner import CANNOT_PLACE

SCENARIOS = Path(__file__).parent / "scenarios"
FIXTURES = Path(__file__).parent / "fixtures" / "system"
SYSTEM_LAYERS = "driver,gpu,toolkit,compat,wsl,environ"
REPO = Path(__file__).parents[1]
DEV_MODE = (0o666, 0, 0)
"""Device nodes in a tree get the driver's default mode (NVreg_DeviceFileMode=0666, root:root) unless the
scenario's ``modes`` says otherwise (git keeps no modes or owners)."""


def _stream(spec: dict[str, Any], name: str) -> str | bytes:
    if f"{name}_file" in spec:
        return (FIXTURES / spec[f"{name}_file"]).read_bytes()
    if f"{name}_hex" in spec:
        return bytes.fromhex(spec[f"{name}_hex"])
    return spec.get(name, "")


def materialise(folder: Path, fake: FakeBin, root: Path) -> dict[str, Any]:
    """Create the scenario's fake executables and sysroot; return its expectations and environment."""
    for spec_file in sorted((folder / "bin").glob("*.json")):
        spec = json.loads(spec_file.read_text())
        name = spec_file.stem
        if "shebang" in spec:
            exe = fake.path / name
            exe.write_text(f"#!{spec['shebang']}\n")
            exe.chmod(0o755)
            continue
        by_args = {
            args: (_stream(s, "stdout"), _stream(s, "stderr"), s.get("exit_code", 0))
            for args, s in spec.get("by_args", {}).items()
        }
        fake.add(
            name,
            _stream(spec, "stdout"),
            stderr=_stream(spec, "stderr"),
            exit_code=spec.get("exit_code", 0),
            sleep_s=spec.get("sleep_s", 0.0),
            by_args=by_args,
        )
    if (folder / "sysroot").is_dir():
        shutil.copytree(folder / "sysroot", root, dirs_exist_ok=True, symlinks=True)
        for path in root.rglob("*"):
            if path.is_file() and path.parent.name == "bin":
                path.chmod(0o755)
    expected = json.loads((folder / "expected.json").read_text())
    for host_path, (mode, uid, gid) in node_modes(root, expected).items():
        target = root / host_path.lstrip("/")
        target.chmod(mode)
        if os.geteuid() == 0:
            os.chown(target, uid, gid)
    env = base_env(**expected.get("env", {}))
    env["PATH"] = ":".join(
        p.replace("{bin}", str(fake.path)) for p in expected.get("path", ["{bin}", "/usr/bin", "/bin"])
    )
    expected["_env"] = env
    return expected


def node_modes(root: Path, expected: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """Host path → (mode, uid, gid) for the tree's device nodes and the scenario's ``modes``."""
    modes = {
        "/" + str(p.relative_to(root)): DEV_MODE
        for p in sorted((root / "dev").glob("nvidia*"))
        if p.is_file()
    }
    for host_path, spec in expected.get("modes", {}).items():
        mode, uid, gid = spec.split(":")
        modes[host_path] = (int(mode, 8), int(uid), int(gid))
    return modes


def doctor_args(root: Path, expected: dict[str, Any]) -> list[str]:
    """The doctor command line of a scenario."""
    return ["doctor", "--json", "--sysroot", str(root), "--only", SYSTEM_LAYERS, *expected.get("args", [])]


def assert_expected(doc: dict, expected: dict[str, Any]) -> None:
    """Check statuses and substrings of a JSON report against a scenario's expectations."""
    found = findings_by_check(doc)
    for check_id, status in expected["findings"].items():
        assert check_id in found, f"{check_id} produced no finding"
        statuses = [f["status"] for f in found[check_id]]
        want = status if isinstance(status, list) else [status] * len(statuses)
        assert statuses == want, f"{check_id}: {[(f['status'], f['summary']) for f in found[check_id]]}"
    for check_id, needles in expected.get("contains", {}).items():
        text = " ".join(f"{f['summary']} {f['remediation']}" for f in found[check_id])
        for needle in needles:
            assert needle in text, f"{check_id}: {needle!r} not in {text!r}"
    for check_id, roots in expected.get("caused_by", {}).items():
        got = sorted({c for f in found[check_id] for c in f["caused_by"]})
        assert got == sorted(roots), f"{check_id} caused_by {got}, expected {sorted(roots)}"
    for f in doc["findings"]:
        if f["status"] in ("warn", "fail"):
            assert f["remediation"], f"{f['check']} has no remediation"


@pytest.mark.parametrize("folder", sorted(p for p in SCENARIOS.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_scenario(folder: Path, fake_bin: FakeBin, sysroot, invoke) -> None:
    expected = materialise(folder, fake_bin, sysroot.root)
    result = invoke(*doctor_args(sysroot.root, expected), env=expected["_env"])
    assert_expected(result.json(), expected)
    if "exit_code" in expected:
        assert result.exit_code == expected["exit_code"]


NAMESPACE_HIDE = [
    "/.dockerenv", "/run/.containerenv", "/etc/os-release", "/usr/lib/os-release", "/etc/ld.so.cache",
    "/usr/local/cuda*", "/usr/local/bin/nvcc", "/usr/lib/wsl", "/dev/nvidia*", "/dev/dxg",
    "/proc/driver/nvidia", "/sys/bus/pci/devices", "/var/log/kern.log", "/etc/nvidia-container-runtime",
]  # fmt: skip
"""What of this machine could leak into a scenario run at real paths: removed inside the namespace."""
NAMESPACE_PROGRAMS = {
    "dmesg": {"stderr": "dmesg: read kernel buffer failed: Operation not permitted\n", "exit_code": 1},
    "journalctl": {
        "stderr": "No journal files were opened due to insufficient permissions.\n",
        "exit_code": 1,
    },
}
"""Programs every namespace run replaces unless the scenario brings its own (the kernel log of this machine
is not the scenario's; a non-root user cannot read it)."""
NOBODY = (65534, 65534, [65534])


def _namespaces() -> str | None:
    """Why namespace runs cannot happen here, or None when they can."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs Linux, root and unshare(1) for a private mount namespace"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"mount namespaces are not allowed here: {probe.stderr.strip()}"
    return None


NO_NAMESPACE = _namespaces()


def namespace_spec(folder: Path, stage: Path, fake: FakeBin, expected: dict[str, Any]) -> dict[str, Any]:
    """The runner's spec: the tree's files and fake programs at their real paths; doctor without --sysroot."""
    root = stage / "root"
    files = [
        ["/" + str(p.relative_to(root)), str(p)]
        for p in sorted(root.rglob("*"))
        if p.is_symlink() or p.is_file()
    ]
    programs = expected.get("programs", {})
    for name, spec in NAMESPACE_PROGRAMS.items():
        if not (folder / "bin" / f"{name}.json").exists():
            fake.add(name, spec.get("stdout", ""), stderr=spec.get("stderr", ""), exit_code=spec["exit_code"])
    for exe in sorted(fake.path.iterdir()):
        if exe.is_file() and not exe.name.startswith("."):
            files.append([programs.get(exe.name, f"/usr/bin/{exe.name}"), str(exe)])
    env = dict(expected["_env"])
    env["PATH"] = ":".join(
        p.replace("{bin}", "/usr/bin") for p in expected.get("path", ["{bin}", "/usr/bin", "/bin"])
    )
    env.update(HOME=str(stage), GPUCHECK_DISABLE_NVML="1")
    return {
        "files": files,
        "modes": {path: list(mode) for path, mode in node_modes(root, expected).items()},
        "hide": NAMESPACE_HIDE,
        "replace": {"/proc/1/cgroup": str(stage / "cgroup")},
        "argv": [sys.executable, "-m", "gpucheck", "doctor", "--json", "--only", SYSTEM_LAYERS,
                 *expected.get("args", [])],
        "env": env,
        "cwd": str(REPO),
        "user": None if expected.get("user") == "root" else NOBODY,
    }  # fmt: skip


@pytest.mark.skipif(NO_NAMESPACE is not None, reason=str(NO_NAMESPACE))
@pytest.mark.parametrize("folder", sorted(p for p in SCENARIOS.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_scenario_at_real_paths(folder: Path) -> None:
    """The scenario run as a user runs doctor: no --sysroot, its files and programs at their real paths."""
    expected = json.loads((folder / "expected.json").read_text())
    if expected.get("namespace") is False:
        pytest.skip(expected.get("namespace_reason", "this scenario runs under --sysroot only"))
    stage = Path(tempfile.mkdtemp(prefix="gpucheck-ns-"))
    try:
        stage.chmod(
            0o755
        )  # NOTE: doctor runs as nobody inside the namespace and reads the fake programs here
        fake = FakeBin(stage / "bin")
        fake.path.mkdir()
        (stage / "root").mkdir()
        (stage / "cgroup").write_text("0::/\n")
        expected = materialise(folder, fake, stage / "root")
        spec = stage / "spec.json"
        spec.write_text(json.dumps(namespace_spec(folder, stage, fake, expected)))
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-m", "tests.namespace_runner",
             str(spec)],
            capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
        )  # fmt: skip
        if proc.returncode == CANNOT_PLACE and not proc.stdout:
            pytest.skip(proc.stderr.strip().splitlines()[-1])
        assert proc.stdout.strip().startswith("{"), proc.stderr[-3000:]
        assert_expected(json.loads(proc.stdout), expected)
        if "exit_code" in expected:
            assert proc.returncode == expected["exit_code"], proc.stderr[-2000:]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
