#!/usr/bin/env python3
"""Rebuild the knowledge rows that can be fetched from PyPI, and list the sources to re-check by hand.

What it writes: the ``[[release]]`` rows of gpucheck/knowledge/torch_wheels.toml (every final torch release
since 2.0 with its upload date and the CUDA of its default Linux wheel, read from the wheel's
``requires_dist``) and of gpucheck/knowledge/tf_builds.toml (every final TensorFlow release since 2.12 with
its upload date), from PyPI's JSON API (https://pypi.org/pypi/<project>/json). The rows go between the
``# BEGIN``/``# END refresh-knowledge.py`` markers, each with ``written_by = "scripts/refresh-knowledge.py"``.

What it cannot fetch from here (download.pytorch.org, NVIDIA's and TensorFlow's documentation): it prints
those URLs, one per table, and which releases PyPI knows that the hand-kept tables do not cover yet.

Usage: ``python scripts/refresh-knowledge.py [--dry-run] [--pypi-json DIR] [--today YYYY-MM-DD]``
(``--pypi-json`` reads ``<project>.json`` and ``<project>-<version>.json`` from DIR instead of the network).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpucheck.knowledge import load  # noqa: E402 - the repository root must be importable first

KNOWLEDGE = ROOT / "gpucheck" / "knowledge"
WRITER = "scripts/refresh-knowledge.py"
BEGIN = f"# BEGIN rows written by {WRITER} (do not edit by hand)"
END = f"# END rows written by {WRITER}"
PROJECTS = {"torch": ("torch_wheels.toml", Version("2.0")), "tensorflow": ("tf_builds.toml", Version("2.12"))}
CUDA_PIN = re.compile(r"^(?:cuda-toolkit(?:\[[^\]]*\])?|nvidia-cuda-runtime(?:-cu\d+)?)\s*==\s*(\d+)\.(\d+)")
"""``cuda-toolkit[cublas,...]==13.2.2`` (torch >= 2.13) or ``nvidia-cuda-runtime-cu12==12.4.127`` (older)."""


class Source:
    """PyPI (JSON API, JSON simple index, PEP 658 ``.metadata`` files), or a directory of saved ones."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _fetch(self, url: str, accept: str = "application/json") -> bytes:
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "gpucheck-refresh"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - fixed https URLs
            return response.read()

    def project(self, project: str) -> dict:
        """https://pypi.org/pypi/<project>/json (releases and their upload times)."""
        if self.directory is not None:
            return json.loads((self.directory / f"{project}.json").read_text())
        return json.loads(self._fetch(f"https://pypi.org/pypi/{project}/json"))

    def simple(self, project: str) -> dict:
        """https://pypi.org/simple/<project>/ as JSON (PEP 691): every file with its absolute URL."""
        if self.directory is not None:
            return json.loads((self.directory / f"{project}.simple.json").read_text())
        return json.loads(
            self._fetch(f"https://pypi.org/simple/{project}/", "application/vnd.pypi.simple.v1+json")
        )

    def metadata(self, url: str) -> str:
        """A wheel's core metadata (PEP 658: the wheel URL + ``.metadata``)."""
        if self.directory is not None:
            path = self.directory / (url.rsplit("/", 1)[-1] + ".metadata")
            return path.read_text() if path.exists() else ""
        try:
            return self._fetch(url + ".metadata", "text/plain").decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:  # an old upload without PEP 658 metadata: no default CUDA
            print(f"  no metadata for {url.rsplit('/', 1)[-1]} ({exc.code})", file=sys.stderr)
            return ""


def final_releases(document: dict, oldest: Version) -> list[tuple[Version, dt.date]]:
    """(version, first upload date) of every final, non-yanked release at or above ``oldest``."""
    found = []
    for text, files in document.get("releases", {}).items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        files = [f for f in files if not f.get("yanked")]
        if version.is_prerelease or version.is_devrelease or version < oldest or not files:
            continue
        uploaded = min(dt.datetime.fromisoformat(f["upload_time"]).date() for f in files)
        found.append((version, uploaded))
    return sorted(found)


def default_cuda(metadata: str) -> str | None:
    """The CUDA release a wheel's ``Requires-Dist`` lines pin (its default CUDA build); None for none."""
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            match = CUDA_PIN.match(line.split(":", 1)[1].strip())
            if match:
                return f"{match[1]}.{match[2]}"
    return None


def linux_wheels(simple: dict, version: str) -> list[str]:
    """The URLs of the manylinux x86_64 wheels of ``version`` in the simple index, newest Python first."""
    urls = [
        item["url"]
        for item in simple.get("files", [])
        if item.get("filename", "").startswith(f"torch-{version}-")
        and "manylinux" in item["filename"]
        and item["filename"].endswith("x86_64.whl")
    ]
    return sorted(urls, reverse=True)


def release_rows(source: Source, project: str, today: dt.date) -> list[dict]:
    """The ``[[release]]`` rows for a project."""
    oldest = PROJECTS[project][1]
    simple = source.simple(project) if project == "torch" else {}
    document = source.project(project)
    latest = document.get("info", {})
    rows = []
    for version, uploaded in final_releases(document, oldest):
        row = {"version": str(version), "uploaded": uploaded}
        cuda = None
        for wheel in linux_wheels(simple, str(version)) if project == "torch" else ():
            metadata = source.metadata(wheel)
            if metadata:
                cuda = default_cuda(metadata)
                break
        if cuda is None and project == "torch" and latest.get("version") == str(version):
            requires = "\n".join(f"Requires-Dist: {r}" for r in latest.get("requires_dist") or ())
            cuda = default_cuda(requires)
        if cuda:
            row["default_cuda"] = cuda
        row.update(source=f"https://pypi.org/project/{project}/{version}/", checked=today, written_by=WRITER)
        rows.append(row)
    return rows


def _toml_value(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value)


def render(rows: list[dict]) -> str:
    """The marked block of ``[[release]]`` rows, as TOML."""
    lines = [BEGIN]
    for row in rows:
        lines += ["[[release]]", *(f"{key} = {_toml_value(value)}" for key, value in row.items()), ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with its marked block replaced by ``block`` (appended when the file has none yet)."""
    start, end = text.find(BEGIN), text.find(END)
    if start == -1 or end == -1:
        return text.rstrip("\n") + "\n\n" + block
    return text[:start] + block + text[end + len(END) + 1 :]


def uncovered(project: str, rows: list[dict]) -> list[str]:
    """Release series PyPI has that the hand-kept rows do not describe yet."""
    if project == "torch":
        known = {w.series for w in load.torch_wheels()}
    else:
        known = {b.series for b in load.tf_builds()}
    newest = max(Version(s) for s in known)
    series = sorted({load.release_of(r["version"]) for r in rows} - known, key=Version)
    return [s for s in series if s and Version(s) > newest]


HAND_CHECKS = {
    "cuda_drivers": "NVIDIA's release notes, Table 3 (newest release and its driver), the driver branches",
    "gpu_generations": "NVIDIA's open-kernel-module and driver-lifecycle pages, pci.ids",
    "torch_wheels": "download.pytorch.org/whl/torch/ variants, .ci/manywheel/build_env_setup.py at the tag",
    "tf_builds": "TensorFlow's tested build configurations and pip install page",
    "container": "the container toolkit's CHANGELOG and Docker's release notes",
    "images": "Ubuntu's -updates packages, PyPI, the nvidia/cuda tags",
}


def main(argv: list[str] | None = None) -> int:
    """Refresh the PyPI rows and print what to check by hand."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the new blocks, write nothing")
    parser.add_argument("--pypi-json", type=Path, help="read saved PyPI JSON from this directory")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today())
    args = parser.parse_args(argv)
    source = Source(args.pypi_json)
    for project, (filename, _) in PROJECTS.items():
        rows = release_rows(source, project, args.today)
        path = KNOWLEDGE / filename
        block = render(rows)
        if args.dry_run:
            print(f"--- {path.relative_to(ROOT)}\n{block}")
        else:
            path.write_text(replace_block(path.read_text(), block))
            print(f'wrote {len(rows)} [[release]] rows to {path.relative_to(ROOT)} (written_by = "{WRITER}")')
        for series in uncovered(project, rows):
            print(f"  {project} {series} is on PyPI but not in the hand-kept rows of {filename}: add them")
    print("\nRe-check by hand (then update each row's checked date):")
    for name, what in HAND_CHECKS.items():
        print(f"  {name}.toml: {what}")
        rows = [r for group in load.table(name).rows.values() for r in group if r.get("written_by") != WRITER]
        for url in dict.fromkeys(r["source"] for r in rows):
            print(f"    {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
