"""Parsers for ``nvidia-smi`` output: the CSV query, the ``-q -x`` XML, the table header, and its failures.

Command line equivalents: ``nvidia-smi --query-gpu=<fields> --format=csv,nounits``, ``nvidia-smi -q -x``,
``nvidia-smi -q`` and plain ``nvidia-smi``. NOTE: the man page warns that nvidia-smi's text output is not
backwards compatible, so every parser here tolerates missing fields and returns ``ParseError`` for anything
it cannot read.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.values import UNAVAILABLE

_HEADER = re.compile(
    r"NVIDIA-SMI (\S+)[ \t]+(?:Driver|KMD) Version: (\S+)(?:[ \t]+CUDA(?: UMD)? Version: (\S+))?"
)
"""Both header forms: ``Driver Version: … CUDA Version: …`` (to R595) and, from R610 on,
``KMD Version: … CUDA UMD Version: …`` (the kernel-mode driver and the CUDA user-mode driver)."""
_UNITS = re.compile(r"\s*\[[^\]]*\]\s*$")


@dataclass(frozen=True, slots=True)
class SmiHeader:
    """The first box of the ``nvidia-smi`` table."""

    smi_version: str
    driver_version: str
    """The ``Driver Version`` (``KMD Version`` from R610 on)."""
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
    """None when absent (pre-R410) or a placeholder (``Not Found``, ``N/A``)."""
    gpus: tuple[dict[str, str], ...]
    attached_gpus: int | None = None
    """The document's own ``<attached_gpus>`` count (compared with the ``<gpu>`` elements it lists)."""


_XML_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("product_name",),
    "uuid": ("uuid",),
    "pci.bus_id": ("pci/pci_bus_id",),
    "memory.total": ("fb_memory_usage/total",),
    "persistence_mode": ("persistence_mode",),
    "compute_mode": ("compute_mode",),
    "mig.mode.current": ("mig_mode/current_mig",),
    "driver_model.current": ("driver_model/current_dm",),
    "virtualization_mode": ("gpu_virtualization_mode/virtualization_mode",),
    "ecc.mode.current": ("ecc_mode/current_ecc",),
    "retired_pages.single_bit_ecc.count": ("retired_pages/multiple_single_bit_retirement/retired_count",),
    "retired_pages.double_bit.count": ("retired_pages/double_bit_retirement/retired_count",),
    "retired_pages.pending": ("retired_pages/pending_retirement", "retired_pages/pending_blacklist"),
    "remapped_rows.uncorrectable": ("remapped_rows/remapped_row_unc",),
    "remapped_rows.pending": ("remapped_rows/remapped_row_pending",),
    "remapped_rows.failure": ("remapped_rows/remapped_row_failure",),
    "fan.speed": ("fan_speed",),
    "temperature.gpu": ("temperature/gpu_temp",),
    "temperature.gpu.slowdown": ("temperature/gpu_temp_slow_threshold",),
    "pstate": ("performance_state",),
    "utilization.gpu": ("utilization/gpu_util",),
    "pcie.link.gen.current": ("pci/pci_gpu_link_info/pcie_gen/current_link_gen",),
    "pcie.link.gen.max": ("pci/pci_gpu_link_info/pcie_gen/max_link_gen",),
    "pcie.link.width.current": ("pci/pci_gpu_link_info/link_widths/current_link_width",),
    "pcie.link.width.max": ("pci/pci_gpu_link_info/link_widths/max_link_width",),
}
"""``--query-gpu`` field → element paths inside ``<gpu>``, newest layout first.

Two layouts of the same facts exist: drivers and GPUs before HBM-era repair report ECC as
``volatile/double_bit/total`` (DTD v8-v10 on Kepler/Pascal/Volta: K80 on R430, P100 on R510, V100 on R410)
and newer ones split by memory, with no total: ``sram_uncorrectable`` (A100 on R510-R535; from R535.161
``sram_uncorrectable_parity`` and ``sram_uncorrectable_secded``) and ``dram_uncorrectable``; the
uncorrected totals are the sum of those parts (``_uncorrected_totals``). The K80-era drivers name a pending
retirement ``pending_blacklist`` where later ones say ``pending_retirement`` (some print both). The first
path present with a reading wins; a placeholder (``N/A``) is kept so the inventory can tell "not reported"
from "absent".
"""


def parse_xml(text: str) -> SmiXml:
    """Read ``nvidia-smi -q -x``; ``ParseError`` when it is not an ``nvidia_smi_log`` document."""
    # NOTE: ElementTree does not fetch the DOCTYPE's external DTD and expands no external entities.
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise ParseError(f"not XML: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise ParseError(f"root element is <{root.tag}>, not <nvidia_smi_log>")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        fields = {"index": str(index)}
        for field, paths in _XML_FIELDS.items():
            value = _first(gpu, paths)
            if value is not None:
                fields[field] = value
        fields.update(_uncorrected_totals(functools.partial(_text, gpu), _ECC_XML))
        if "pci.bus_id" not in fields and gpu.get("id"):
            fields["pci.bus_id"] = str(gpu.get("id"))
        gpus.append(fields)
    attached = _text(root, "attached_gpus")
    return SmiXml(
        _text(root, "kmd_version") or _text(root, "driver_version"),
        _version(_text(root, "cuda_umd_version") or _text(root, "cuda_version")),
        tuple(gpus),
        int(attached) if attached and attached.isdigit() else None,
    )


_ECC_XML = (
    ("volatile", "aggregate"),
    "ecc_errors/{scope}/{part}",
    ("sram_uncorrectable", "sram_uncorrectable_parity", "sram_uncorrectable_secded", "dram_uncorrectable"),
    "double_bit/total",
)
_ECC_TEXT = (
    ("Volatile", "Aggregate"),
    "ECC Errors/{scope}/{part}",
    ("SRAM Uncorrectable", "SRAM Uncorrectable Parity", "SRAM Uncorrectable SEC-DED", "DRAM Uncorrectable"),
    "Double Bit/Total",
)
"""Each ECC layout: its two scopes as spelled, the path template, the HBM-era parts, the legacy total."""


def _uncorrected_totals(
    read: Callable[[str], str | None], layout: tuple[tuple[str, str], str, tuple[str, ...], str]
) -> dict[str, str]:
    """``ecc.errors.uncorrected.{volatile,aggregate}.total`` from either ECC layout.

    The HBM-era layout has no total: an uncorrectable SRAM error (Xid 94/95) counts as much as a DRAM one, so
    the parts are summed; a placeholder stands when no part is a number; the legacy ``Double Bit/Total``
    answers when no part is present.
    """
    scopes, template, parts, legacy = layout
    totals: dict[str, str] = {}
    for scope, field in zip(scopes, ("volatile", "aggregate"), strict=True):
        values = (read(template.format(scope=scope, part=part)) for part in parts)
        present = [v.strip() for v in values if v and v.strip()]
        numbers = [int(v) for v in present if v.isdigit()]
        if numbers:
            total: str | None = str(sum(numbers))
        elif present:
            total = present[0]
        else:
            total = read(template.format(scope=scope, part=legacy))
        if total and total.strip():
            totals[f"ecc.errors.uncorrected.{field}.total"] = total.strip()
    return totals


def _first(gpu: ET.Element, paths: tuple[str, ...]) -> str | None:
    """The first path's text that is a reading; else the first placeholder found; else None."""
    found = None
    for path in paths:
        element = gpu.find(path)
        if element is None or element.text is None or not element.text.strip():
            continue
        value = element.text.strip()
        if not is_placeholder(value):
            return value
        found = found or value
    return found


def _text(root: ET.Element, path: str) -> str | None:
    element = root.find(path)
    return element.text.strip() if element is not None and element.text and element.text.strip() else None


def _version(value: str | None) -> str | None:
    """``12.4`` stays; ``Not Found``, ``N/A``, ``ERR!`` and anything else that is no version become None."""
    return value if value and re.fullmatch(r"\d+\.\d+(?:\.\d+)?", value) else None


def is_placeholder(value: str) -> bool:
    """Whether nvidia-smi's text is one of its "no reading" placeholders (``N/A``, ``[Not Supported]``)."""
    return value.strip().lower() in UNAVAILABLE


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
    ("gpu is lost", SmiFailure.GPU_LOST),
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


_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("Product Name",),
    "uuid": ("GPU UUID",),
    "pci.bus_id": ("PCI/Bus Id",),
    "memory.total": ("FB Memory Usage/Total",),
    "persistence_mode": ("Persistence Mode",),
    "compute_mode": ("Compute Mode",),
    "mig.mode.current": ("MIG Mode/Current",),
    "driver_model.current": ("Driver Model/Current",),
    "virtualization_mode": ("GPU Virtualization Mode/Virtualization Mode",),
    "ecc.mode.current": ("ECC Mode/Current",),
    "retired_pages.single_bit_ecc.count": ("Retired Pages/Single Bit ECC",),
    "retired_pages.double_bit.count": ("Retired Pages/Double Bit ECC",),
    "retired_pages.pending": (
        "Retired Pages/Pending Page Retirement",
        "Retired Pages/Pending Page Blacklist",
        "Retired Pages/Pending",
    ),
    "remapped_rows.uncorrectable": ("Remapped Rows/Uncorrectable Error",),
    "remapped_rows.pending": ("Remapped Rows/Pending",),
    "remapped_rows.failure": ("Remapped Rows/Remapping Failure Occurred",),
    "fan.speed": ("Fan Speed",),
    "temperature.gpu": ("Temperature/GPU Current Temp",),
    "temperature.gpu.slowdown": ("Temperature/GPU Slowdown Temp",),
    "pstate": ("Performance State",),
    "utilization.gpu": ("Utilization/Gpu", "Utilization/GPU"),
    "pcie.link.gen.current": ("PCI/GPU Link Info/PCIe Generation/Current",),
    "pcie.link.gen.max": ("PCI/GPU Link Info/PCIe Generation/Max",),
    "pcie.link.width.current": ("PCI/GPU Link Info/Link Width/Current",),
    "pcie.link.width.max": ("PCI/GPU Link Info/Link Width/Max",),
}
"""``--query-gpu`` field → ``Section/Key`` path in ``nvidia-smi -q`` text, newest name first (the same two ECC
layouts and two retirement names as the XML)."""


_TOP_DRIVER = re.compile(r"^(?:Driver|KMD) Version +: ", re.MULTILINE)
_TOP_ATTACHED = re.compile(r"^Attached GPUs +: ", re.MULTILINE)
"""A report pasted without its banner (threads and docs often start it at ``Timestamp``) is still one when
its top level names the driver and the attached GPUs."""


def parse_query_text(text: str) -> SmiXml:
    """Read ``nvidia-smi -q`` (the indented ``Key : value`` report); ``ParseError`` when it is not one.

    The result has the XML reader's shape. The ``NVSMI LOG`` banner may be missing (a pasted report) where
    the top level has ``Driver Version`` and ``Attached GPUs``. Sections nest by four-space indentation; a
    GPU section starts at column 0 with ``GPU <bus id>``. Each line is split at its first ``" : "`` (values
    keep their own colons).
    """
    if "==============NVSMI LOG==============" not in text and not (
        _TOP_DRIVER.search(text) and _TOP_ATTACHED.search(text)
    ):
        raise ParseError("no '==============NVSMI LOG==============' banner: not `nvidia-smi -q` output")
    top: dict[str, str] = {}
    gpus: list[tuple[str, dict[str, str]]] = []
    stack: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("====="):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 4
        body = line.strip()
        key, sep, value = body.partition(" : ")
        if not sep and body.endswith(" :"):
            key, sep, value = body[:-2], " : ", ""
        if depth == 0 and not sep and body.startswith("GPU "):
            gpus.append((body[4:].strip(), {}))
            stack = []
            continue
        level = depth - 1 if gpus else depth
        stack = stack[: max(level, 0)]
        if not sep:
            stack.append(body)
            continue
        path = "/".join([*stack, key.strip()])
        target = gpus[-1][1] if gpus and depth > 0 else top
        target.setdefault(path, value.strip())
    if not gpus and "Driver Version" not in top:
        raise ParseError("`nvidia-smi -q` output lists no driver and no GPU")
    parsed = []
    for index, (bus, flat) in enumerate(gpus):
        fields = {"index": str(index)}
        for field, paths in _TEXT_FIELDS.items():
            value = _first_text(flat, paths)
            if value is not None:
                fields[field] = value
        fields.update(_uncorrected_totals(flat.get, _ECC_TEXT))
        fields.setdefault("pci.bus_id", bus)
        parsed.append(fields)
    attached = top.get("Attached GPUs", "")
    # NOTE: from R610 on, "Driver Version : 610.62 [Deprecated; ...]" sits beside "KMD Version : 610.62".
    driver = top.get("KMD Version") or top.get("Driver Version", "").split(" [", 1)[0]
    return SmiXml(
        driver or None,
        _version(top.get("CUDA UMD Version") or top.get("CUDA Version", "").split(" [", 1)[0]),
        tuple(parsed),
        int(attached) if attached.isdigit() else None,
    )


def _first_text(flat: dict[str, str], paths: tuple[str, ...]) -> str | None:
    found = None
    for path in paths:
        value = flat.get(path)
        if not value:
            continue
        if not is_placeholder(value):
            return value
        found = found or value
    return found


_TABLE_GPU = re.compile(r"^ *(\d{1,3}) +(\S.{0,60}?) +(On|Off|WDDM|TCC|N/A) *$")
_TABLE_BUS = re.compile(r"^ *([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]) +\S+ *$")
_TABLE_STATE = re.compile(r"^ *(\S+) +(\S+) +(P\d{1,2}|ERR!|N/A)(?= |$)")
_TABLE_MEMORY = re.compile(r"(\d+)MiB */ *(\d+)MiB")
_TABLE_USE = re.compile(r"^ *(\S+) +(\S.{0,20}?) *$")
_COMPUTE_MODES = {"Default": "Default", "E. Process": "Exclusive_Process", "E. Thread": "Exclusive_Thread",
                  "Prohibited": "Prohibited"}
"""The table's abbreviations of the compute mode → the names ``--query-gpu`` prints."""
_MAX_CELL = 120
"""Table cells longer than this are not nvidia-smi's (every pattern here runs on one short cell)."""


def parse_table_gpus(text: str) -> tuple[dict[str, str], ...]:
    """Per-GPU readings from the plain ``nvidia-smi`` table, for when no query form answered.

    Each GPU is two boxed lines (three from R450 on): ``| 0  <name>  Off | <bus id> Off | <ECC> |``,
    ``| <fan> <temp> <P-state> <power> | <used>MiB / <total>MiB | <util> <compute mode> |``, the MIG mode.
    Names are cut by the table's width (``NVIDIA GeForce ...``); values are under ``--query-gpu`` names.
    """
    gpus: list[dict[str, str]] = []
    line_of_gpu = 0
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) != 5 or any(len(c) > _MAX_CELL for c in cells):
            line_of_gpu = 0
            continue
        first, second, third = cells[1], cells[2], cells[3]
        head, bus = _TABLE_GPU.match(first), _TABLE_BUS.match(second)
        if head and bus:
            mode = head.group(3)
            gpu = {"index": head.group(1), "name": head.group(2), "pci.bus_id": bus.group(1)}
            if third.strip().isdigit():  # NOTE: in MIG mode this cell shows the ECC mode ("On"), not a count
                gpu["ecc.errors.uncorrected.volatile.total"] = third.strip()
            if mode in ("WDDM", "TCC"):
                gpu["driver_model.current"] = mode
            else:
                gpu["persistence_mode"] = {"On": "Enabled", "Off": "Disabled"}.get(mode, mode)
            gpus.append(gpu)
            line_of_gpu = 1
            continue
        if line_of_gpu == 1:
            _table_second_line(gpus[-1], first, second, third)
            line_of_gpu = 2
        elif line_of_gpu == 2:
            if third.strip() and not first.strip() and not second.strip():
                gpus[-1]["mig.mode.current"] = third.strip()
            line_of_gpu = 0
    return tuple(gpus)


def _table_second_line(gpu: dict[str, str], first: str, second: str, third: str) -> None:
    state, memory, use = _TABLE_STATE.match(first), _TABLE_MEMORY.search(second), _TABLE_USE.match(third)
    if state:
        gpu["fan.speed"] = state.group(1)
        gpu["temperature.gpu"] = state.group(2)
        gpu["pstate"] = state.group(3)
    if memory:
        gpu["memory.total"] = memory.group(2)
    if use:
        gpu["utilization.gpu"] = use.group(1)
        gpu["compute_mode"] = _COMPUTE_MODES.get(use.group(2).strip(), use.group(2).strip())
