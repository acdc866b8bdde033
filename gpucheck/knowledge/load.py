"""Typed readers for the knowledge tables; a version past a table's newest row is a ``NewerThanTable`` value.

Each reader parses its TOML file once (``tomllib``), checks the conventions in
``gpucheck/knowledge/__init__.py`` (every row has an ``https://`` source and a ``checked`` date) and returns
frozen dataclasses. Lookups that can fall past the end of a table return ``NewerThanTable`` instead of the
last row, so a caller cannot mistake "newer than gpucheck knows" for "supported".
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLES = ("cuda_drivers", "gpu_generations", "torch_wheels", "tf_builds", "container", "images")
"""The tables this module reads (other readers may add files to the folder under the same conventions)."""
UPGRADE_GPUCHECK = "python -m pip install --upgrade gpucheck"
"""How to get newer tables: they ship inside the package."""


class KnowledgeError(ValueError):
    """A knowledge file that breaks the conventions (a row without a source, a missing field)."""


@dataclass(frozen=True, slots=True)
class Table:
    """One parsed table: its header and its rows, grouped by array name (``release``, ``branch``, ...)."""

    name: str
    description: str
    checked: dt.date
    rows: Mapping[str, tuple[Mapping[str, Any], ...]]
    note: str = ""
    header: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewerThanTable:
    """A version beyond the newest row of a table: gpucheck cannot judge it, and says so."""

    subject: str
    """What was asked about, e.g. ``CUDA 13.5`` or ``torch 2.15.0``."""
    newest: str
    """The newest row the table has, e.g. ``13.4``."""
    table: str
    checked: dt.date

    def cannot_judge(self, what: str) -> str:
        """``CUDA 13.5 is newer than this gpucheck's table (checked 2026-12-01): cannot judge <what>``."""
        return (
            f"{self.subject} is newer than this gpucheck's {self.table} table (newest {self.newest}, checked "
            f"{self.checked.isoformat()}): cannot judge {what}"
        )


def _check_row(name: str, kind: str, index: int, row: Any) -> Mapping[str, Any]:
    where = f"{name}.toml [[{kind}]] #{index + 1}"
    if not isinstance(row, dict):
        raise KnowledgeError(f"{where}: not a table")
    source = row.get("source")
    if not isinstance(source, str) or not source.startswith("https://"):
        raise KnowledgeError(f'{where}: every row needs source = "https://..." (got {source!r})')
    if not isinstance(row.get("checked"), dt.date):
        raise KnowledgeError(f"{where}: every row needs checked = YYYY-MM-DD")
    if row.get("written_by", "hand") not in ("hand", "scripts/refresh-knowledge.py"):
        raise KnowledgeError(f"{where}: written_by must be 'hand' or 'scripts/refresh-knowledge.py'")
    return row


def parse_table(name: str, text: str) -> Table:
    """Parse and check one table's TOML text (``KnowledgeError`` on a broken convention)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{name}.toml: {exc}") from exc
    header = data.get("table")
    if not isinstance(header, dict) or header.get("name") != name:
        raise KnowledgeError(f"{name}.toml: needs a [table] header with name = {name!r}")
    if not isinstance(header.get("checked"), dt.date) or not isinstance(header.get("description"), str):
        raise KnowledgeError(f"{name}.toml: [table] needs description and checked = YYYY-MM-DD")
    rows = {}
    for kind, value in data.items():
        if kind == "table":
            continue
        if not isinstance(value, list):
            raise KnowledgeError(f"{name}.toml: top-level {kind!r} must be an array of tables [[{kind}]]")
        rows[kind] = tuple(_check_row(name, kind, i, row) for i, row in enumerate(value))
    return Table(name, header["description"], header["checked"], rows, str(header.get("note", "")), header)


@cache
def table(name: str) -> Table:
    """The named table from ``gpucheck/knowledge/<name>.toml``, parsed and checked once."""
    text = resources.files("gpucheck.knowledge").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse_table(name, text)


def _version(text: object) -> Version | None:
    try:
        return Version(str(text).strip())  # packaging accepts a leading "v" / "V" itself
    except InvalidVersion:
        return None


def release_of(version: object) -> str | None:
    """``12.4.131`` / ``V12.4`` / ``12.4`` → ``12.4``; None when it is not a version."""
    parsed = _version(version) if isinstance(version, str) else None
    return f"{parsed.major}.{parsed.minor}" if parsed is not None else None


def _key(release: str) -> Version:
    return Version(release)


# --- CUDA and drivers


@dataclass(frozen=True, slots=True)
class CudaRelease:
    """A CUDA toolkit release and the Linux x86_64 driver it shipped with."""

    cuda: str
    label: str
    driver: str
    """The release's driver; a bare branch (``615``) when ``exact`` is False."""
    exact: bool
    source: str


@dataclass(frozen=True, slots=True)
class DriverBranch:
    """A driver branch and the CUDA version every driver of it reports."""

    branch: int
    cuda: str
    release: bool
    """False when the reported CUDA was never released as a toolkit (565 reports 12.7)."""
    source: str


@cache
def cuda_releases() -> tuple[CudaRelease, ...]:
    """Every GA release row, oldest first (updates are in the file for reference)."""
    rows = table("cuda_drivers").rows["release"]
    found = [
        CudaRelease(r["cuda"], r["label"], r["driver"], bool(r.get("exact", True)), r["source"])
        for r in rows
        if r["label"] == "GA"
    ]
    return tuple(sorted(found, key=lambda r: _key(r.cuda)))


@cache
def driver_branches() -> tuple[DriverBranch, ...]:
    """Every driver branch row, oldest first."""
    rows = table("cuda_drivers").rows["branch"]
    found = [
        DriverBranch(int(r["branch"]), r["cuda"], bool(r.get("release", True)), r["source"]) for r in rows
    ]
    return tuple(sorted(found, key=lambda b: b.branch))


@cache
def major_floors() -> Mapping[int, str]:
    """CUDA major → the oldest driver that runs any minor release of it (minor-version compatibility)."""
    return {int(r["major"]): r["driver"] for r in table("cuda_drivers").rows["major_floor"]}


def cuda_release(cuda: str) -> CudaRelease | NewerThanTable | None:
    """The release row deciding ``cuda``'s driver.

    Its own row, else (a version between releases, like 12.7) the next release's; ``NewerThanTable`` past the
    newest release; None for nonsense or a version before the table.
    """
    release = release_of(cuda)
    if release is None:
        return None
    releases, wanted = cuda_releases(), _key(release)
    if wanted > _key(releases[-1].cuda):
        info = table("cuda_drivers")
        return NewerThanTable(f"CUDA {release}", releases[-1].cuda, info.name, info.checked)
    if wanted < _key(releases[0].cuda):
        return None
    return next(r for r in releases if _key(r.cuda) >= wanted)


def driver_branch(driver: str) -> DriverBranch | NewerThanTable | None:
    """The branch row a driver version belongs to: the newest branch at or below its major.

    ``NewerThanTable`` for a major past the newest branch; None for an unparseable driver or one older than
    every branch.
    """
    parsed = _version(driver)
    if parsed is None:
        return None
    branches = driver_branches()
    if parsed.major > branches[-1].branch:
        info = table("cuda_drivers")
        return NewerThanTable(
            f"driver {str(driver).strip()}", str(branches[-1].branch), info.name, info.checked
        )
    fitting = [b for b in branches if b.branch <= parsed.major]
    return fitting[-1] if fitting else None


def recommended_branch() -> int:
    """The driver branch to recommend when nothing asks for a newer one (a long-term-support branch)."""
    return int(table("cuda_drivers").rows["recommended"][0]["branch"])


def newest_real_release_at_most(cuda: str) -> str | None:
    """The newest released toolkit not newer than ``cuda`` (``12.7`` → ``12.6``: there is no 12.7)."""
    wanted = _version(cuda)
    if wanted is None:
        return None
    fitting = [r.cuda for r in cuda_releases() if _key(r.cuda) <= wanted]
    return fitting[-1] if fitting else None


# --- GPU generations


@dataclass(frozen=True, slots=True)
class Architecture:
    """A GPU architecture (or a product that differs from its architecture, like Grace Hopper)."""

    name: str
    open_modules: str
    """``unsupported``, ``supported`` or ``required``."""
    capabilities: tuple[str, ...] = ()
    last_branch: int | None = None
    last_cuda: str | None = None
    pci_device_ranges: tuple[tuple[int, int], ...] = ()
    source: str = ""


@cache
def architectures() -> tuple[Architecture, ...]:
    """Every architecture row, in file order (oldest first)."""
    return tuple(
        Architecture(
            r["name"],
            r["open_modules"],
            tuple(r["capabilities"]),
            r.get("last_branch"),
            r.get("last_cuda"),
            tuple((int(lo, 16), int(hi, 16)) for lo, hi in r.get("pci_device_ranges", ())),
            r["source"],
        )
        for r in table("gpu_generations").rows["architecture"]
    )


@dataclass(frozen=True, slots=True)
class Product:
    """A product whose driver needs differ from its architecture's (matched by name or PCI device id)."""

    name: str
    name_contains: str
    pci_device_ids: tuple[int, ...]
    open_modules: str
    source: str


@cache
def products() -> tuple[Product, ...]:
    """Every product row."""
    return tuple(
        Product(
            r["name"],
            r["name_contains"],
            tuple(int(i, 16) for i in r["pci_device_ids"]),
            r["open_modules"],
            r["source"],
        )
        for r in table("gpu_generations").rows["product"]
    )


def _cc(capability: object) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{1,3})\.(\d{1,3})", str(capability).strip())
    return (int(match[1]), int(match[2])) if match else None


def architecture_of(
    capability: str | None = None, pci_device_id: int | None = None
) -> Architecture | NewerThanTable | None:
    """The architecture of a GPU by compute capability, else by PCI device id.

    ``NewerThanTable`` for a capability past every row; None when neither identifies one.
    """
    cc = _cc(capability) if capability is not None else None
    if cc is not None:
        for arch in architectures():
            if any(_cc(c) == cc for c in arch.capabilities):
                return arch
        newest = max((c for a in architectures() for c in a.capabilities), key=lambda c: _cc(c) or (0, 0))
        if cc > (_cc(newest) or (0, 0)):
            info = table("gpu_generations")
            return NewerThanTable(f"compute capability {capability}", newest, info.name, info.checked)
    if pci_device_id is not None:
        for arch in architectures():
            if any(lo <= pci_device_id <= hi for lo, hi in arch.pci_device_ranges):
                return arch
    return None


def legacy_last_branch() -> int:
    """The last driver branch of the architectures the open kernel modules cannot drive (R580)."""
    return max(a.last_branch for a in architectures() if a.open_modules == "unsupported" and a.last_branch)


def product_of(name: str | None = None, pci_device_id: int | None = None) -> Product | None:
    """The product row a GPU matches by PCI device id or by name, or None."""
    for product in products():
        if pci_device_id is not None and pci_device_id in product.pci_device_ids:
            return product
        if name and product.name_contains.lower() in name.lower():
            return product
    return None


# --- PyTorch


@dataclass(frozen=True, slots=True)
class TorchWheel:
    """One CUDA wheel variant of a torch release series."""

    series: str
    variant: str
    cuda: str
    archs_x86_64: tuple[str, ...]
    archs_aarch64: tuple[str, ...]
    source: str

    def archs(self, machine: str = "x86_64") -> tuple[str, ...]:
        """The compiled architectures for a CPU architecture (``x86_64`` or ``aarch64``)."""
        return self.archs_aarch64 if machine in ("aarch64", "arm64") else self.archs_x86_64


@dataclass(frozen=True, slots=True)
class TorchRelease:
    """A torch release on PyPI and the CUDA of its default Linux wheel (None: a CPU-only default)."""

    version: str
    uploaded: dt.date
    default_cuda: str | None
    source: str


@cache
def torch_wheels() -> tuple[TorchWheel, ...]:
    """Every wheel variant row, newest series first, newest CUDA first within a series."""
    rows = [
        TorchWheel(
            r["series"],
            r["variant"],
            r["cuda"],
            tuple(r["archs_x86_64"]),
            tuple(r.get("archs_aarch64", ())),
            r["source"],
        )
        for r in table("torch_wheels").rows["wheel"]
    ]
    return tuple(sorted(rows, key=lambda w: (_key(w.series), _key(w.cuda)), reverse=True))


@cache
def torch_releases() -> tuple[TorchRelease, ...]:
    """Torch releases on PyPI (rows the refresh script wrote), oldest first."""
    rows = table("torch_wheels").rows.get("release", ())
    found = [
        TorchRelease(r["version"], r["uploaded"], r.get("default_cuda") or None, r["source"]) for r in rows
    ]
    return tuple(sorted(found, key=lambda r: Version(r.version)))


def torch_index() -> str:
    """PyTorch's wheel index root (``https://download.pytorch.org/whl``)."""
    return str((table("torch_wheels").header or {})["index"])


def torch_series(version: str) -> tuple[TorchWheel, ...] | NewerThanTable | None:
    """The wheel variants of torch ``version``'s series (``2.14.1+cu130`` → the 2.14 rows).

    ``NewerThanTable`` past the newest series; None for an unknown older series or nonsense.
    """
    release = release_of(version.split("+")[0]) if isinstance(version, str) else None
    if release is None:
        return None
    newest = torch_wheels()[0].series
    if _key(release) > _key(newest):
        info = table("torch_wheels")
        return NewerThanTable(f"torch {version.split('+')[0]}", newest, info.name, info.checked)
    rows = tuple(w for w in torch_wheels() if w.series == release)
    return rows or None


# --- TensorFlow


@dataclass(frozen=True, slots=True)
class TfBuild:
    """A TensorFlow release series' tested GPU build."""

    series: str
    cuda: str
    cudnn: str
    and_cuda: bool
    """Whether ``tensorflow[and-cuda]`` exists (pip CUDA libraries)."""
    wheel_suffix: str | None
    """``cu12`` / ``cu11``: the suffix of the NVIDIA wheels the extra pulls."""
    source: str


@cache
def tf_builds() -> tuple[TfBuild, ...]:
    """Every build row, newest first."""
    rows = [
        TfBuild(r["series"], r["cuda"], r["cudnn"], bool(r["and_cuda"]), r.get("wheel_suffix"), r["source"])
        for r in table("tf_builds").rows["build"]
    ]
    return tuple(sorted(rows, key=lambda b: _key(b.series), reverse=True))


def tf_build(version: str) -> TfBuild | NewerThanTable | None:
    """The build of TensorFlow ``version``'s series; ``NewerThanTable`` past the newest; None if unknown."""
    release = release_of(version) if isinstance(version, str) else None
    if release is None:
        return None
    newest = tf_builds()[0]
    if _key(release) > _key(newest.series):
        info = table("tf_builds")
        return NewerThanTable(f"TensorFlow {version}", newest.series, info.name, info.checked)
    return next((b for b in tf_builds() if b.series == release), None)


def tf_min_driver(platform: str = "linux") -> str:
    """The driver TensorFlow's pip guide asks for with the CUDA 12 wheels (``linux`` or ``wsl2``)."""
    return next(r["driver"] for r in table("tf_builds").rows["driver"] if r["platform"] == platform)


# --- containers


@dataclass(frozen=True, slots=True)
class ContainerFact:
    """A version-dependent behaviour of the container toolkit or Docker."""

    id: str
    component: str
    since: str
    value: str
    source: str

    def holds_for(self, version: str | None) -> bool | None:
        """Whether ``version`` of the component has the behaviour; None when the version is unknown."""
        parsed = _version(version) if version else None
        return None if parsed is None else parsed >= Version(self.since)


@cache
def container_facts() -> Mapping[str, ContainerFact]:
    """Every container fact by id."""
    return {
        r["id"]: ContainerFact(r["id"], r["component"], r["since"], r["value"], r["source"])
        for r in table("container").rows["fact"]
    }


def sources(name: str) -> Sequence[str]:
    """Every distinct source URL of a table, in file order (what to re-check by hand)."""
    return list(dict.fromkeys(r["source"] for rows in table(name).rows.values() for r in rows))


# --- image matrix pins


@dataclass(frozen=True, slots=True)
class ImagePins:
    """The image matrix's pins, as the images package uses them."""

    ubuntu_python: Mapping[str, str]
    apt_pins: Mapping[str, Mapping[str, str]]
    torch_for_cuda: Mapping[str, str]
    tensorflow_version: str
    default_pairs: tuple[tuple[str, str], ...]


@cache
def image_pins() -> ImagePins:
    """Ubuntu python3/pip pins, torch release per CUDA base, the TensorFlow release and the default pairs."""
    rows = table("images").rows
    frameworks = rows["framework"]
    return ImagePins(
        {r["release"]: r["python"] for r in rows["ubuntu"]},
        {
            r["release"]: {"python3": r["python3_apt"], "python3-pip": r["python3_pip_apt"]}
            for r in rows["ubuntu"]
        },
        {r["cuda"]: r["version"] for r in frameworks if r["name"] == "torch"},
        next(r["version"] for r in frameworks if r["name"] == "tensorflow"),
        tuple((r["cuda"], r["ubuntu"]) for r in rows["default_pair"]),
    )
