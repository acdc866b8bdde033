"""The CUDA toolkits found on the machine, and the one that wins on PATH (built from the toolkit source)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.cuda_compat import cuda_release
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.nvcc import parse_nvcc_version
from gpucheck.diagnose.parse.version_json import parse_version_json, parse_version_txt


@dataclass(frozen=True, slots=True)
class ToolkitInfo:
    """One CUDA toolkit, identified by its nvcc."""

    nvcc: str
    """The nvcc path as found (on PATH, under CUDA_HOME, or in an install directory)."""
    realpath: str
    """The nvcc with symlinks resolved (two paths to one nvcc are one toolkit)."""
    root: str
    """The toolkit directory: the parent of nvcc's ``bin`` (e.g. ``/usr/local/cuda-12.4``)."""
    version: str | None
    """``major.minor`` release, e.g. ``12.4``; None when neither the banner nor version.json could be read."""
    full_version: str | None
    """The full version (``12.4.131`` from nvcc, or ``12.4.1`` from version.json)."""
    origin: str
    """Where it was found first: ``PATH``, ``CUDA_HOME``, ``CUDA_PATH``, ``CUDA_ROOT`` or ``install-dir``."""
    source: str
    """What gave the version: ``nvcc``, ``version.json``, ``version.txt`` or ``none``."""
    error: str | None = None
    """Why the version could not be read (nvcc failed, banner unreadable)."""

    @property
    def on_path(self) -> bool:
        """Whether this nvcc was found on PATH."""
        return self.origin == "PATH"


def _candidates(evidence: Evidence) -> list[dict]:
    item = evidence.value("nvcc_candidates")
    data = item.data if item is not None and isinstance(item.data, list) else []
    return [c for c in data if isinstance(c, dict) and isinstance(c.get("nvcc"), str)]


def _from_files(evidence: Evidence, roots: list[str]) -> tuple[str | None, str]:
    for root in roots:
        for name, parse in (("version.json", parse_version_json), ("version.txt", parse_version_txt)):
            item = evidence.file(os.path.join(root, name))
            if item is not None and item.content:
                try:
                    return parse(item.content), name
                except ParseError:
                    continue
    return None, "none"


def _toolkit(evidence: Evidence, cand: dict) -> ToolkitInfo:
    nvcc = cand["nvcc"]
    realpath = str(cand.get("realpath") or nvcc)
    roots = list(dict.fromkeys(os.path.dirname(os.path.dirname(p)) for p in (realpath, nvcc)))
    run = evidence.command(nvcc, "--version")
    error = None
    if run is not None:
        if run.succeeded:
            try:
                parsed = parse_nvcc_version(run.stdout)
                return ToolkitInfo(
                    nvcc, realpath, roots[0], parsed.release, parsed.full, cand["origin"], "nvcc"
                )
            except ParseError as exc:
                error = f"`{nvcc} --version` printed no version: {exc}"
        else:
            error = run.describe_failure()
    full, source = _from_files(evidence, roots)
    version = cuda_release(full) if full else None
    return ToolkitInfo(nvcc, realpath, roots[0], version, full, cand["origin"], source, error)


def toolkits(evidence: Evidence) -> tuple[ToolkitInfo, ...]:
    """Every toolkit with an existing nvcc, PATH ones first in PATH order, one entry per real nvcc."""
    seen: set[str] = set()
    found = []
    for cand in _candidates(evidence):
        realpath = str(cand.get("realpath") or cand["nvcc"])
        if cand.get("exists") and realpath not in seen:
            seen.add(realpath)
            found.append(_toolkit(evidence, cand))
    return tuple(found)


def active_toolkit(evidence: Evidence) -> ToolkitInfo | None:
    """The toolkit whose nvcc wins on PATH, or None when no nvcc is on PATH."""
    return next((t for t in toolkits(evidence) if t.on_path), None)


def missing_homes(evidence: Evidence) -> tuple[tuple[str, str], ...]:
    """``(variable, nvcc path)`` for CUDA_HOME / CUDA_PATH / CUDA_ROOT values that hold no nvcc."""
    return tuple(
        (c["origin"], c["nvcc"])
        for c in _candidates(evidence)
        if c.get("origin") != "PATH" and c.get("origin") != "install-dir" and not c.get("exists")
    )
