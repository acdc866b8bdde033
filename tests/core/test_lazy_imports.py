"""Each command imports only what it uses: doctor never pays for jinja2, the Docker SDK, torch or plotting."""

import re
import subprocess
import sys

import pytest

HEAVY = ("docker", "jinja2", "torch", "matplotlib", "gymnasium", "tensorflow", "numpy")
"""Packages a plain ``gpucheck doctor`` of the system layers must not import (frameworks run in workers)."""


def _imported(*argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, timeout=300
    )
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", proc.stderr, re.M)
    assert names, proc.stderr[-2000:]
    return {n.split(".")[0] for n in names}


def test_import_gpucheck_cli_pulls_in_no_heavy_package():
    assert not _imported("-c", "import gpucheck.cli") & set(HEAVY)


def test_doctor_on_the_system_layers_imports_no_heavy_package():
    imported = _imported("-m", "gpucheck", "doctor", "--json", "--only", "driver,gpu,toolkit,environ")
    assert "gpucheck" in imported and not imported & set(HEAVY)


@pytest.mark.parametrize(("command", "package"), [("image", "jinja2"), ("fleet", "jinja2")])
def test_a_lazy_command_still_imports_what_it_uses(command, package):
    assert package in _imported("-m", "gpucheck", command, "--help")
