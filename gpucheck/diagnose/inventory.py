"""The driver, the GPUs and the active CUDA toolkit, built from whichever evidence answered.

Shared interface for every layer: ``driver_info``, ``gpu_inventory``, ``active_toolkit`` and ``toolkits`` are
pure builders of ``Evidence`` (use them through ``facts.of(...)``). Sources are tried in order of trust: NVML,
then ``nvidia-smi`` (CSV query, legacy query, XML, table header), then the kernel's
``/proc/driver/nvidia/version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpucheck.collect.evidence import CommandRun, Evidence
from gpucheck.diagnose.cuda_compat import cuda_from_driver_api, max_cuda_for_driver
from gpucheck.diagnose.gpu_errors import strip_handle_errors
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.nvidia_smi import (
    SmiHeader,
    SmiXml,
    parse_header,
    parse_query_csv,
    parse_query_text,
    parse_table_gpus,
    parse_xml,
)
from gpucheck.diagnose.parse.proc import parse_nvidia_version
from gpucheck.diagnose.parse.values import enabled_or_none, int_or_none, text_or_none
from gpucheck.diagnose.toolkits import ToolkitInfo, active_toolkit, toolkits

__all__ = [
    "DriverInfo",
    "GpuInfo",
    "ToolkitInfo",
    "active_toolkit",
    "driver_info",
    "gpu_inventory",
    "toolkits",
    "nvidia_smi_runs",
]


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU as the driver reports it; None for a reading the source did not have."""

    index: int
    name: str
    uuid: str
    bus_id: str
    memory_total_mib: int | None = None
    compute_capability: str | None = None
    """``major.minor``, e.g. ``8.6``."""
    persistence_mode: bool | None = None
    compute_mode: str | None = None
    """``Default``, ``Exclusive_Process``, ``Prohibited`` (nvidia-smi spelling)."""
    mig_mode: bool | None = None
    ecc_mode: bool | None = None
    """Whether ECC is on (None: not reported, e.g. consumer GPUs print ``N/A``)."""
    ecc_uncorrected: int | None = None
    """Volatile uncorrected ECC errors since the last driver load (both XML layouts: ``dram_uncorrectable``
    and ``double_bit/total``)."""
    ecc_uncorrected_aggregate: int | None = None
    """Uncorrected ECC errors over the GPU's lifetime (InfoROM)."""
    retired_pages_single_bit: int | None = None
    retired_pages_double_bit: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    fan_error: bool = False
    """The driver printed ``ERR!`` for the fan: it cannot read a fan it expects (a failed fan or sensor)."""
    temperature_c: int | None = None
    """None in a vGPU guest, whose driver prints ``0 C`` for a sensor it cannot read."""
    slowdown_temp_c: int | None = None
    """The GPU's own slowdown threshold (NVML, XML ``gpu_temp_slow_threshold``, ``-q`` "GPU Slowdown Temp");
    the CSV query has no such field."""
    pstate: int | None = None
    """Performance state number (``P0`` → 0, ``P8`` → 8); None when not reported."""
    utilization_pct: int | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    driver_model: str | None = None
    """``WDDM``/``TCC`` on Windows and WSL2; None on Linux (``N/A``)."""
    virtualization_mode: str | None = None
    """``VGPU`` for a vGPU guest, ``Pass-Through``, ``None`` (XML only)."""
    source: str = "none"
    """``nvml``, ``nvidia-smi`` (CSV), ``nvidia-smi-xml``, ``nvidia-smi-text`` (-q), ``nvidia-smi-table``."""


@dataclass(frozen=True, slots=True)
class DriverInfo:
    """The NVIDIA driver, as far as the evidence tells."""

    version: str | None
    """Userspace driver version, e.g. ``550.54.14`` (the kernel module's when only procfs answered)."""
    cuda_version: str | None
    """The newest CUDA the driver supports, e.g. ``12.4``."""
    source: str
    """``nvml``, ``nvidia-smi``, ``procfs`` or ``none``."""
    error: str | None = None
    """Why the preferred sources failed (NVML's error, then nvidia-smi's), when they did."""
    kernel_version: str | None = None
    """The loaded kernel module's version from /proc/driver/nvidia/version, when readable."""

    @property
    def loaded(self) -> bool:
        """Whether a driver answered at all."""
        return self.version is not None


def nvidia_smi_runs(evidence: Evidence) -> dict[str, CommandRun]:
    """The nvidia-smi runs that were collected, by role.

    Roles: ``query`` (the first, full ``--query-gpu`` run), ``legacy`` (a retry with the fields the driver
    knows: the one that succeeded, else the last), ``help`` (``--help-query-gpu``), ``xml`` (``-q -x``),
    ``text`` (``-q``) and ``table``.
    Roles are told apart by the command line's shape (the collector's argv constants live in collect.sources,
    which diagnose must not import): the ``--query-gpu`` run with the most fields is the full query.
    """
    runs = [r for r in evidence.with_prefix("cmd:nvidia-smi") if isinstance(r, CommandRun) and r.argv]
    roles: dict[str, CommandRun] = {}
    queries = sorted(
        (r for r in runs if len(r.argv) > 1 and r.argv[1].startswith("--query-gpu=")),
        key=lambda r: -r.argv[1].count(","),
    )
    if queries:
        roles["query"] = queries[0]
        retries = queries[1:]
        if retries:
            roles["legacy"] = next((r for r in retries if r.succeeded), retries[-1])
    for run in runs:
        if run.argv[1:] == ("-q", "-x"):
            roles["xml"] = run
        elif run.argv[1:] == ("-q",):
            roles["text"] = run
        elif run.argv[1:] == ("--help-query-gpu",):
            roles["help"] = run
        elif run.argv == ("nvidia-smi",):
            roles["table"] = run
    return roles


def _nvml(evidence: Evidence) -> Mapping[str, Any] | None:
    item = evidence.value("nvml")
    return item.data if item is not None and item.error is None and isinstance(item.data, dict) else None


def _smi_rows(evidence: Evidence) -> tuple[tuple[dict[str, str], ...], str] | None:
    """Per-GPU rows from the first nvidia-smi form that succeeded and parsed, with its source name."""
    runs = nvidia_smi_runs(evidence)
    for role in ("query", "legacy"):
        run = runs.get(role)
        if run is None:
            continue
        # NOTE: one GPU without a handle makes nvidia-smi exit non-zero but still list the others
        text, broken = strip_handle_errors(run.stdout)
        if run.succeeded or (broken and run.ran):
            try:
                return parse_query_csv(text), "nvidia-smi"
            except ParseError:
                continue
    report = smi_xml(evidence)
    if report is not None:
        return report.gpus, "nvidia-smi-xml" if "xml" in runs and runs["xml"].succeeded else "nvidia-smi-text"
    table = smi_table_gpus(evidence)
    return (table, "nvidia-smi-table") if table else None


def smi_table_gpus(evidence: Evidence) -> tuple[dict[str, str], ...]:
    """The GPU rows of the plain ``nvidia-smi`` table (printed even when one GPU's handle fails)."""
    run = nvidia_smi_runs(evidence).get("table")
    return parse_table_gpus(run.stdout) if run is not None and run.stdout else ()


def smi_xml(evidence: Evidence) -> SmiXml | None:
    """The ``nvidia-smi -q -x`` document (else the ``-q`` text report), when one succeeded and parsed."""
    runs = nvidia_smi_runs(evidence)
    for role, parse in (("xml", parse_xml), ("text", parse_query_text)):
        run = runs.get(role)
        if run is None or not run.succeeded:
            continue
        try:
            return parse(run.stdout)
        except ParseError:
            continue
    return None


def smi_header(evidence: Evidence) -> SmiHeader | None:
    """The parsed table header of plain ``nvidia-smi``, when it printed one (whatever its exit status)."""
    run = nvidia_smi_runs(evidence).get("table")
    if run is None or not run.stdout:
        return None
    try:
        return parse_header(run.stdout)
    except ParseError:
        return None


def _smi_versions(evidence: Evidence) -> tuple[str | None, str | None]:
    """(driver, CUDA) from the nvidia-smi table header, else the XML, else the CSV driver_version."""
    for parsed in (smi_header(evidence), smi_xml(evidence)):
        if parsed is not None and parsed.driver_version:
            return parsed.driver_version, parsed.cuda_version
    rows = _smi_rows(evidence)
    driver = text_or_none(rows[0][0].get("driver_version")) if rows and rows[0] else None
    return driver, None


def _kernel_version(evidence: Evidence) -> str | None:
    item = evidence.file("/proc/driver/nvidia/version")
    if item is None or not item.content:
        return None
    try:
        return parse_nvidia_version(item.content).version
    except ParseError:
        return None


def _errors(evidence: Evidence) -> str | None:
    reasons = []
    nvml = evidence.value("nvml")
    if nvml is not None and nvml.error:
        reasons.append(f"NVML: {nvml.error}")
    runs = nvidia_smi_runs(evidence)
    query = runs.get("query")
    if query is not None and not query.succeeded:
        reasons.append(query.describe_failure())
        retry = runs.get("legacy")
        if retry is not None and not retry.succeeded:
            reasons.append(retry.describe_failure())
    return "; ".join(reasons) or None


def driver_info(evidence: Evidence) -> DriverInfo:
    """The driver version and the newest CUDA it supports, from NVML, nvidia-smi or procfs."""
    kernel, error = _kernel_version(evidence), _errors(evidence)
    nvml = _nvml(evidence)
    if nvml is not None and text_or_none(nvml.get("driver_version")):
        version = str(nvml["driver_version"]).strip()
        cuda = cuda_from_driver_api(nvml.get("cuda_driver_version")) or max_cuda_for_driver(version)
        return DriverInfo(version, cuda, "nvml", None, kernel)
    driver, cuda = _smi_versions(evidence)
    if driver is not None:
        return DriverInfo(driver, cuda or max_cuda_for_driver(driver), "nvidia-smi", error, kernel)
    if kernel is not None:
        return DriverInfo(kernel, max_cuda_for_driver(kernel), "procfs", error, kernel)
    return DriverInfo(None, None, "none", error, None)


def _gpu(fields: Mapping[str, Any], position: int, source: str) -> GpuInfo:
    index = int_or_none(fields.get("index"))
    return GpuInfo(
        index=position if index is None else index,
        name=text_or_none(fields.get("name")) or "unknown GPU",
        uuid=text_or_none(fields.get("uuid")) or "",
        bus_id=text_or_none(fields.get("pci.bus_id")) or "",
        memory_total_mib=int_or_none(fields.get("memory.total")),
        compute_capability=text_or_none(fields.get("compute_cap")),
        persistence_mode=enabled_or_none(fields.get("persistence_mode")),
        compute_mode=text_or_none(fields.get("compute_mode")),
        mig_mode=enabled_or_none(fields.get("mig.mode.current")),
        ecc_mode=enabled_or_none(fields.get("ecc.mode.current")),
        ecc_uncorrected=int_or_none(fields.get("ecc.errors.uncorrected.volatile.total")),
        ecc_uncorrected_aggregate=int_or_none(fields.get("ecc.errors.uncorrected.aggregate.total")),
        retired_pages_single_bit=int_or_none(fields.get("retired_pages.single_bit_ecc.count")),
        retired_pages_double_bit=int_or_none(fields.get("retired_pages.double_bit.count")),
        retired_pages_pending=enabled_or_none(fields.get("retired_pages.pending")),
        remapped_rows_uncorrectable=int_or_none(fields.get("remapped_rows.uncorrectable")),
        remapped_rows_pending=enabled_or_none(fields.get("remapped_rows.pending")),
        remapped_rows_failure=enabled_or_none(fields.get("remapped_rows.failure")),
        temperature_c=None
        if _raw(fields.get("virtualization_mode")) == "VGPU"
        else int_or_none(fields.get("temperature.gpu")),
        slowdown_temp_c=int_or_none(fields.get("temperature.gpu.slowdown")),
        fan_error=str(fields.get("fan.speed", "")).strip().strip("[]").upper() == "ERR!",
        pstate=_pstate(fields.get("pstate")),
        utilization_pct=int_or_none(fields.get("utilization.gpu")),
        pcie_gen_current=int_or_none(fields.get("pcie.link.gen.current")),
        pcie_gen_max=int_or_none(fields.get("pcie.link.gen.max")),
        pcie_width_current=int_or_none(fields.get("pcie.link.width.current")),
        pcie_width_max=int_or_none(fields.get("pcie.link.width.max")),
        driver_model=text_or_none(fields.get("driver_model.current")),
        virtualization_mode=_raw(fields.get("virtualization_mode")),
        source=source,
    )


def _pstate(value: Any) -> int | None:
    text = text_or_none(value)
    number = int(text[1:]) if text and text[:1] in "Pp" and text[1:].isdigit() else None
    return number if number is not None and number <= 15 else None  # NVML's P32 means "unknown"


def _raw(value: Any) -> str | None:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    return text or None


def gpu_inventory(evidence: Evidence) -> tuple[GpuInfo, ...]:
    """Every GPU the driver reports (empty when no source answered or none were found)."""
    nvml = _nvml(evidence)
    if nvml is not None and isinstance(nvml.get("gpus"), list):
        return tuple(
            _gpu(g, i, "nvml")
            for i, g in enumerate(nvml["gpus"])
            if isinstance(g, dict) and not g.get("handle_error")
        )
    rows = _smi_rows(evidence)
    if rows is None:
        return ()
    return tuple(_gpu(row, i, rows[1]) for i, row in enumerate(rows[0]))
