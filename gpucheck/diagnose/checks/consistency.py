"""Check: NVML and nvidia-smi tell the same story, and neither contradicts itself.

Where several sources answer (NVML, the ``nvidia-smi`` table header, its ``--query-gpu`` CSV, its ``-q -x``
XML or ``-q`` text) they must agree on the driver version, the GPU count, the UUIDs and each GPU's memory.
A source that contradicts another (a header saying 470 while the query says 550) or itself (two GPUs with one
UUID, an ``attached_gpus`` count the listing does not match, a negative error count) is an ``error`` naming
the contradiction: gpucheck cannot tell which reading is true, so no diagnosis should rest on either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, passed, skipped, warned
from gpucheck.diagnose.inventory import nvidia_smi_runs, smi_header, smi_table_gpus, smi_xml
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.nvidia_smi import parse_query_csv
from gpucheck.diagnose.parse.values import int_or_none, text_or_none
from gpucheck.diagnose.registry import check

NEEDS = ("nvml", "nvidia_smi")
EVIDENCE = ("nvml", "cmd:nvidia-smi")
COUNTS = (
    "memory.total",
    "ecc.errors.uncorrected.volatile.total",
    "ecc.errors.uncorrected.aggregate.total",
    "retired_pages.single_bit_ecc.count",
    "retired_pages.double_bit.count",
    "remapped_rows.uncorrectable",
)
"""Readings that are counts or sizes: a negative one is a contradiction, not a value."""
MEMORY_SLACK = 0.01
"""The share by which two sources' total memory of one GPU may differ without a finding."""
FIX = (
    "Find which tool answers: `which -a nvidia-smi`, `cat /proc/driver/nvidia/version` and "
    "`nvidia-smi -q | head -20`; two driver installs (a distribution package and a `.run` install, or a "
    "container's copy) disagree this way: remove one and reboot."
)


@dataclass(slots=True)
class Source:
    """What one source says: a driver version and per-GPU readings under ``--query-gpu`` field names."""

    name: str
    driver: str | None = None
    gpus: list[Mapping[str, Any]] | None = None
    claimed_count: int | None = None
    """A count the source states separately from its listing (the XML's ``<attached_gpus>``)."""
    drivers: set[str] = field(default_factory=set)
    """Per-row driver versions (the CSV repeats ``driver_version`` on every GPU row)."""


def _nvml(facts: Facts) -> Source | None:
    item = facts.evidence.value("nvml")
    if item is None or item.error is not None or not isinstance(item.data, dict):
        return None
    gpus = item.data.get("gpus")
    return Source(
        "NVML",
        text_or_none(item.data.get("driver_version")),
        [g for g in gpus if isinstance(g, dict)] if isinstance(gpus, list) else None,
    )


def _csv(facts: Facts) -> Source | None:
    runs = nvidia_smi_runs(facts.evidence)
    for role in ("query", "legacy"):
        run = runs.get(role)
        if run is None or not run.succeeded:
            continue
        try:
            rows = parse_query_csv(run.stdout)
        except ParseError:
            continue
        drivers = {d for d in (text_or_none(r.get("driver_version")) for r in rows) if d}
        return Source("nvidia-smi --query-gpu", next(iter(sorted(drivers)), None), list(rows), None, drivers)
    return None


def _sources(facts: Facts) -> list[Source]:
    found = [s for s in (_nvml(facts), _csv(facts)) if s is not None]
    header = smi_header(facts.evidence)
    if header is not None:
        table = smi_table_gpus(facts.evidence)
        found.append(Source("the nvidia-smi table", header.driver_version, list(table) if table else None))
    report = smi_xml(facts.evidence)
    if report is not None:
        runs = nvidia_smi_runs(facts.evidence)
        name = "nvidia-smi -q -x" if "xml" in runs and runs["xml"].succeeded else "nvidia-smi -q"
        found.append(Source(name, report.driver_version, list(report.gpus), report.attached_gpus))
    return found


def _self_contradictions(source: Source) -> Iterable[str]:
    gpus = source.gpus or []
    if len(source.drivers) > 1:
        versions = ", ".join(sorted(source.drivers))
        yield f"{source.name} gives different driver versions on different GPUs ({versions})"
    if source.claimed_count is not None and source.gpus is not None and source.claimed_count != len(gpus):
        yield f"{source.name} says {source.claimed_count} GPUs are attached but lists {len(gpus)}"
    for what in ("uuid", "index", "pci.bus_id"):
        seen = Counter(v for v in (text_or_none(g.get(what)) for g in gpus) if v)
        twice = sorted(v for v, n in seen.items() if n > 1)
        if twice:
            yield f"{source.name} lists {', '.join(twice)} as the {what} of more than one GPU"
    for position, gpu in enumerate(gpus):
        for reading in COUNTS:
            value = int_or_none(gpu.get(reading))
            if value is not None and value < 0:
                yield f"{source.name} reports {reading} = {value} for GPU {gpu.get('index', position)}"


def _cross(sources: list[Source]) -> tuple[list[str], list[str]]:
    """(contradictions, disagreements) between sources: driver, GPU count and UUIDs; memory per UUID."""
    contradictions, disagreements = [], []
    drivers = {s.name: s.driver for s in sources if s.driver}
    if len(set(drivers.values())) > 1:
        contradictions.append(
            "driver versions differ: " + ", ".join(f"{n} says {v}" for n, v in drivers.items())
        )
    listed = [s for s in sources if s.gpus is not None]
    counts = {s.name: len(s.gpus or []) for s in listed}
    if len(set(counts.values())) > 1:
        contradictions.append("GPU counts differ: " + ", ".join(f"{n} lists {c}" for n, c in counts.items()))
    uuids = {
        s.name: frozenset(u for u in (text_or_none(g.get("uuid")) for g in s.gpus or []) if u) for s in listed
    }
    named = {n: u for n, u in uuids.items() if u}
    if len(set(named.values())) > 1:
        contradictions.append("the GPUs' UUIDs differ between " + " and ".join(named))
    memory: dict[str, dict[str, int]] = {}
    for source in listed:
        for gpu in source.gpus or []:
            uuid, mib = text_or_none(gpu.get("uuid")), int_or_none(gpu.get("memory.total"))
            if uuid and mib is not None and mib >= 0:
                memory.setdefault(uuid, {})[source.name] = mib
    for uuid, by_source in memory.items():
        # NOTE: a few hundred MiB of reserved memory may be counted by one API and not the other; a real
        # disagreement (another GPU behind the UUID, a wrong unit) is far larger than MEMORY_SLACK.
        if max(by_source.values()) - min(by_source.values()) > MEMORY_SLACK * max(by_source.values()):
            told = ", ".join(f"{n}: {m} MiB" for n, m in by_source.items())
            disagreements.append(f"{uuid} memory differs ({told})")
    return contradictions, disagreements


def _gpus(count: int) -> str:
    return f", {count} GPU" + ("" if count == 1 else "s")


@check("gpu.consistency", title="NVML and nvidia-smi tell the same story", needs=NEEDS)
def check_consistency(facts: Facts) -> Iterable[Finding]:
    """Driver version, GPU count, UUIDs and memory compared across every source that answered."""
    sources = _sources(facts)
    contradictions = [c for s in sources for c in _self_contradictions(s)]
    cross, disagreements = _cross(sources)
    contradictions += cross
    findings = [
        errored(
            f"contradictory evidence: {c}; no diagnosis can rest on either reading", FIX, evidence=EVIDENCE
        )
        for c in contradictions
    ]
    findings += [
        warned(
            f"NVML and nvidia-smi disagree: {d}",
            "Re-run `gpucheck doctor`; if it persists, " + FIX,
            evidence=EVIDENCE,
        )
        for d in disagreements
    ]
    if findings:
        return findings
    if not sources:
        return [skipped("neither NVML nor nvidia-smi answered: nothing to compare")]
    if len(sources) == 1:
        return [skipped(f"only {sources[0].name} answered: nothing to compare it with")]
    driver = next((s.driver for s in sources if s.driver), None)
    counts = {len(s.gpus) for s in sources if s.gpus is not None}
    said = (f"driver {driver}" if driver else "") + (_gpus(counts.pop()) if len(counts) == 1 else "")
    return [passed(f"{', '.join(s.name for s in sources)} agree ({said.strip(', ')})", evidence=EVIDENCE)]
