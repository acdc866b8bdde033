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
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeBin, base_env, findings_by_check

SCENARIOS = Path(__file__).parent / "scenarios"
FIXTURES = Path(__file__).parent / "fixtures" / "system"
SYSTEM_LAYERS = "driver,gpu,toolkit,compat,wsl,environ"


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
    env = base_env(**expected.get("env", {}))
    env["PATH"] = ":".join(
        p.replace("{bin}", str(fake.path)) for p in expected.get("path", ["{bin}", "/usr/bin", "/bin"])
    )
    expected["_env"] = env
    return expected


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
