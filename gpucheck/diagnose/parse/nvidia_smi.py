"""Parsers for ``nvidia-smi`` output: the CSV query, the ``-q -x`` XML, the table header, and its failures.

Command line equivalents: ``nvidia-smi --query-gpu=<fields> --format=csv,nounits``, ``nvidia-smi -q -x`` and
plain ``nvidia-smi``. NOTE: the man page warns that nvidia-smi's text output is not backwards compatible, so
every parser here tolerates missing fields and returns ``ParseError`` for anything it cannot read.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum

from gpucheck.diagnose.parse.errors import ParseError

_HEADER = re.compile(r"NVIDIA-SMI (\S+)\s+Driver Version: (\S+)(?:\s+CUDA Version: (\S+))?")
_UNITS = re.compile(r"\s*\[[^\]]*\]\s*$")


@dataclass(frozen=True, slots=True)
class SmiHeader:
    """The first box of the ``nvidia-smi`` table."""

    smi_version: str
    driver_version: str
    cuda_version: str | None
    """None on pre-R410 drivers (no field) and when the driver prints ``ERR!`` (broken WSL2 set-ups)."""
    cuda_raw: str | None
    """The CUDA field exactly as printed (``12.4``, ``ERR!``), or None when absent."""


def parse_header(text: str) -> SmiHeader:
    """Read versions from the table header; ``ParseError`` when there is no header line."""
    match = _HEADER.search(text)
    if match is None:
        raise ParseError("no 'NVIDIA-SMI ... Driver Version:' header in nvidia-smi output")
    cuda_raw = match.group(3)
    cuda = cuda_raw if cuda_raw and re.fullmatch(r"\d+\.\d+", cuda_raw) else None
    return SmiHeader(match.group(1), match.group(2), cuda, cuda_raw)


def parse_query_csv(text: str) -> tuple[dict[str, str], ...]:
    """Rows of ``--format=csv[,nounits]`` output (with its header line) as dicts keyed by field name."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ParseError("empty CSV output")
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True))
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}") from None
    header = [_UNITS.sub("", name).strip() for name in rows[0]]
    if not header or not all(re.fullmatch(r"[a-z_][a-z0-9_.]*", name) for name in header):
        raise ParseError(f"not a CSV header line: {lines[0][:80]!r}")
    parsed = []
    for row in rows[1:]:
        if len(row) != len(header):
            shown = ",".join(row)[:80]
            raise ParseError(f"CSV row has {len(row)} columns, header has {len(header)}: {shown!r}")
        parsed.append({name: value.strip() for name, value in zip(header, row, strict=True)})
    return tuple(parsed)


@dataclass(frozen=True, slots=True)
class SmiXml:
    """What ``nvidia-smi -q -x`` says, with per-GPU readings under ``--query-gpu`` field names."""

    driver_version: str | None
    cuda_version: str | None
    gpus: tuple[dict[str, str], ...]


_XML_FIELDS: dict[str, str] = {
    "name": "product_name",
    "uuid": "uuid",
    "pci.bus_id": "pci/pci_bus_id",
    "memory.total": "fb_memory_usage/total",
    "persistence_mode": "persistence_mode",
    "compute_mode": "compute_mode",
    "mig.mode.current": "mig_mode/current_mig",
    "ecc.errors.uncorrected.volatile.total": "ecc_errors/volatile/dram_uncorrectable",
    "retired_pages.pending": "retired_pages/pending_retirement",
    "remapped_rows.pending": "remapped_rows/remapped_row_pending",
    "remapped_rows.failure": "remapped_rows/remapped_row_failure",
    "temperature.gpu": "temperature/gpu_temp",
    "pcie.link.gen.current": "pci/pci_gpu_link_info/pcie_gen/current_link_gen",
    "pcie.link.gen.max": "pci/pci_gpu_link_info/pcie_gen/max_link_gen",
    "pcie.link.width.current": "pci/pci_gpu_link_info/link_widths/current_link_width",
    "pcie.link.width.max": "pci/pci_gpu_link_info/link_widths/max_link_width",
}
"""``--query-gpu`` field → element path inside ``<gpu>`` (DTD v10 and later)."""


def parse_xml(text: str) -> SmiXml:
    """Read ``nvidia-smi -q -x``; ``ParseError`` when it is not an ``nvidia_smi_log`` document."""
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise ParseError(f"not XML: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise ParseError(f"root element is <{root.tag}>, not <nvidia_smi_log>")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        fields = {"index": str(index)}
        for field, path in _XML_FIELDS.items():
            element = gpu.find(path)
            if element is not None and element.text is not None:
                fields[field] = element.text.strip()
        if "pci.bus_id" not in fields and gpu.get("id"):
            fields["pci.bus_id"] = str(gpu.get("id"))
        gpus.append(fields)
    return SmiXml(_text(root, "driver_version"), _text(root, "cuda_version"), tuple(gpus))


def _text(root: ET.Element, path: str) -> str | None:
    element = root.find(path)
    return element.text.strip() if element is not None and element.text and element.text.strip() else None


class SmiFailure(str, Enum):
    """The known ways ``nvidia-smi`` fails, recognised from its message (and exit code)."""

    DRIVER_NOT_LOADED = "driver_not_loaded"
    VERSION_MISMATCH = "version_mismatch"
    NO_DEVICES = "no_devices"
    NVML_NOT_FOUND = "nvml_not_found"
    WSL_ACCESS_BLOCKED = "wsl_access_blocked"
    UNKNOWN_FIELD = "unknown_field"
    GPU_LOST = "gpu_lost"
    INFOROM_CORRUPTED = "inforom_corrupted"
    NO_PERMISSION = "no_permission"
    NVML_UNKNOWN_ERROR = "nvml_unknown_error"
    OTHER = "other"


_SIGNATURES: tuple[tuple[str, SmiFailure], ...] = (
    ("couldn't communicate with the nvidia driver", SmiFailure.DRIVER_NOT_LOADED),
    ("driver/library version mismatch", SmiFailure.VERSION_MISMATCH),
    ("no devices were found", SmiFailure.NO_DEVICES),
    ("gpu access blocked by the operating system", SmiFailure.WSL_ACCESS_BLOCKED),
    ("is not a valid field to query", SmiFailure.UNKNOWN_FIELD),
    ("fallen off the bus", SmiFailure.GPU_LOST),
    ("inforom is corrupted", SmiFailure.INFOROM_CORRUPTED),
    ("nvml shared library", SmiFailure.NVML_NOT_FOUND),
    ("libnvidia-ml.so", SmiFailure.NVML_NOT_FOUND),
    ("insufficient permissions", SmiFailure.NO_PERMISSION),
    ("failed to initialize nvml: unknown error", SmiFailure.NVML_UNKNOWN_ERROR),
)
_EXIT_CODES: dict[int, SmiFailure] = {
    9: SmiFailure.DRIVER_NOT_LOADED,
    12: SmiFailure.NVML_NOT_FOUND,
    14: SmiFailure.INFOROM_CORRUPTED,
    15: SmiFailure.GPU_LOST,
    18: SmiFailure.VERSION_MISMATCH,
    4: SmiFailure.NO_PERMISSION,
}
"""Exit codes from the nvidia-smi man page (18 observed in the wild for the version mismatch)."""


def classify_failure(output: str, returncode: int | None) -> SmiFailure | None:
    """Which known failure an nvidia-smi run shows; None when it succeeded with nothing alarming."""
    lowered = output.lower()
    for needle, failure in _SIGNATURES:
        if needle in lowered:
            return failure
    if returncode in (0, None):
        return None
    return _EXIT_CODES.get(returncode, SmiFailure.OTHER)


def unknown_field(output: str) -> str | None:
    """The field an old driver rejected (``Field "compute_cap" is not a valid field to query.``)."""
    match = re.search(r'Field "([^"]+)" is not a valid field to query', output)
    return match.group(1) if match else None
