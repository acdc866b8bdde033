#!/usr/bin/env python3
"""Regenerate the hashed Python locks under gpucheck/images/data/ from pyproject.toml's dependencies.

usage: python scripts/lock-python-deps.py        (needs `uv` and https://pypi.org; about a minute)

Each lock is gpucheck's runtime dependencies plus one framework pin, resolved for Linux x86_64 and one
CPython version by `uv pip compile --generate-hashes` against PyPI only (hashes come from the index; no
wheel is downloaded). tests/images/test_render.py fails when a lock's inputs no longer match pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gpucheck.images.matrix import default_matrix  # noqa: E402

DATA = REPO / "gpucheck" / "images" / "data"
STANDIN_PYTHON = "3.11"
"""The tests' stand-in base runs Debian bookworm's CPython 3.11 (tests/images/standin.py)."""


def inputs(framework: str, version: str) -> list[str]:
    """The lock's requirement lines: gpucheck's dependencies, then the framework pin."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    extra = {"torch": [f"torch=={version}"], "tensorflow": [f"tensorflow[and-cuda]=={version}"]}
    return [*deps, *extra.get(framework, [])]


def compile_lock(framework: str, version: str, python: str) -> None:
    """Write requirements-<framework>[-<version>]-py<python>.txt."""
    lines = inputs(framework, version)
    name = f"requirements-{framework}{'-' + version if version else ''}-py{python}.txt"
    with tempfile.TemporaryDirectory() as tmp:
        req_in, out = Path(tmp) / "requirements.in", Path(tmp) / "out.txt"
        req_in.write_text("\n".join(lines) + "\n")
        argv = ["uv", "pip", "compile", "--quiet", "--no-config", "--index-url", "https://pypi.org/simple"]
        argv += ["--generate-hashes", "--python-version", python]
        argv += ["--python-platform", "x86_64-manylinux_2_28"]
        argv += ["--no-header", "--annotation-style", "line", str(req_in), "-o", str(out)]
        subprocess.run(argv, check=True)
        header = [
            "# Python lock for gpucheck images: install with pip install --require-hashes --no-deps -r "
            "this-file.",
            f"# Generated from PyPI (linux x86_64, CPython {python}) by scripts/lock-python-deps.py:",
            f"#   uv pip compile --generate-hashes --python-version {python} "
            "--python-platform x86_64-manylinux_2_28 \\",
            "#     --index-url https://pypi.org/simple requirements.in",
            "# with requirements.in =",
            *(f"#   {line}" for line in lines),
        ]
        (DATA / name).write_text("\n".join(header) + "\n" + out.read_text())
    print(f"wrote {DATA / name}")


def main() -> None:
    """Regenerate every lock the default matrix and the tests use."""
    wanted = {("none", "", STANDIN_PYTHON)}
    for spec in default_matrix():
        wanted.add((spec.framework, spec.framework_version, spec.python))
    for framework, version, python in sorted(wanted):
        compile_lock(framework, version, python)


if __name__ == "__main__":
    main()
