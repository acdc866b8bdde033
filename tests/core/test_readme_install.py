"""The README's first command, run where a new user runs it: a fresh virtualenv, then `gpucheck doctor`."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import base_env

ROOT = Path(__file__).resolve().parents[2]
NETWORK_ERRORS = re.compile(r"Could not fetch|NewConnectionError|Temporary failure in name resolution")


def _first_command() -> str:
    """The install half of the README's first command (``python -m pip install . && gpucheck doctor``)."""
    readme = (ROOT / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("python -m pip install") and "doctor" in ln)
    install, _, doctor = line.partition(" && ")
    assert doctor.strip() == "gpucheck doctor", line
    return install


@pytest.mark.slow
def test_readme_install_in_a_fresh_venv_then_doctor(tmp_path):
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    argv = _first_command().split()
    assert argv[:4] == ["python", "-m", "pip", "install"]
    env = base_env(PATH=f"{venv / 'bin'}:/usr/bin:/bin")
    install = subprocess.run(
        [str(python), *argv[1:], "--disable-pip-version-check", "--retries", "1", "--timeout", "30"],
        cwd=source,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if install.returncode != 0 and NETWORK_ERRORS.search(install.stdout + install.stderr):
        pytest.skip(f"PyPI is not reachable: {install.stderr.strip().splitlines()[-1]}")
    assert install.returncode == 0, install.stdout + install.stderr
    doctor = subprocess.run(
        [str(venv / "bin" / "gpucheck"), "doctor"], capture_output=True, text=True, env=env, timeout=300
    )
    out = doctor.stdout
    assert doctor.returncode in (0, 1), doctor.stdout + doctor.stderr
    assert "Traceback" not in doctor.stderr and "internal error" not in doctor.stderr, doctor.stderr
    assert re.search(r"^\[.\] NVIDIA driver ", out, re.M) and re.search(r"^\[.\] PyTorch ", out, re.M), out
    assert re.search(r"^(\d+ layers? needs? attention|No issues found): ", out.splitlines()[-1]), out
    # this venv has no torch: the summary says so and gives the install command for this interpreter
    assert "PyTorch is not installed" in out, out
