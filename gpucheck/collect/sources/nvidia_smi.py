"""Evidence source: the ``nvidia-smi`` tool, the fallback when NVML cannot be used from Python.

Command line equivalents, in order:

1. ``nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,nounits``;
2. on ``Field "X" is not a valid field to query`` (a driver older than the field):
   ``nvidia-smi --help-query-gpu`` once, then the query again with only the fields that driver lists
   (``clocks_event_reasons.*`` asked under its pre-R535 name ``clocks_throttle_reasons.*``); when the help
   itself cannot be read, the rejected field is dropped and the query retried;
3. ``nvidia-smi -q -x`` whenever no CSV query succeeded, whatever the reason (an exit 255 on one GPU's handle
   as much as an unknown field), unless the binary is missing, hung or cannot be started;
4. ``nvidia-smi -q`` (the same report as text) when the XML failed too;
5. plain ``nvidia-smi`` for the table header, always (the only place older drivers print the CUDA version,
   and evidence of its own when a query fails).

Every run is kept as evidence: a failed query never hides what an earlier or later run read. On WSL2 the tool
lives in ``/usr/lib/wsl/lib``, which is searched after PATH.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator

from gpucheck.collect.evidence import CommandRun, Item
from gpucheck.collect.registry import CollectContext, collector

QUERY_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "driver_version",
    "memory.total",
    "compute_cap",
    "persistence_mode",
    "compute_mode",
    "mig.mode.current",
    "ecc.mode.current",
    "ecc.errors.uncorrected.volatile.total",
    "ecc.errors.uncorrected.aggregate.total",
    "retired_pages.single_bit_ecc.count",
    "retired_pages.double_bit.count",
    "retired_pages.pending",
    "remapped_rows.uncorrectable",
    "remapped_rows.pending",
    "remapped_rows.failure",
    "fan.speed",
    "temperature.gpu",
    "pstate",
    "utilization.gpu",
    "clocks_event_reasons.active",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
)
"""The ``--query-gpu`` fields gathered; their names are also the keys of NVML readings."""

RENAMED_FIELDS: dict[str, str] = {"clocks_event_reasons.": "clocks_throttle_reasons."}
"""New field-name prefix → the name drivers before R535 know (``nvidia-smi --help-query-gpu``)."""

QUERY_ARGV = ("nvidia-smi", "--query-gpu=" + ",".join(QUERY_FIELDS), "--format=csv,nounits")
HELP_ARGV = ("nvidia-smi", "--help-query-gpu")
XML_ARGV = ("nvidia-smi", "-q", "-x")
TEXT_ARGV = ("nvidia-smi", "-q")
TABLE_ARGV = ("nvidia-smi",)
WSL_LIB_DIR = "/usr/lib/wsl/lib"
TIMEOUT_S = 8.0
"""nvidia-smi can take seconds on a many-GPU host without persistence mode; a wedged driver takes forever.
With ``--timeout`` each call is cut to what is left of the overall deadline (``ctx.run``)."""
MAX_DROPS = 4
"""Retries that each drop one rejected field, when ``--help-query-gpu`` cannot say which fields exist."""

_REJECTED = re.compile(r'Field "([^"\n]{1,200})" is not a valid field to query')
_HELP_NAME = re.compile(r'"([A-Za-z_][A-Za-z0-9_.]{0,200})"')


def _run(ctx: CollectContext, argv: tuple[str, ...]) -> CommandRun:
    path = ctx.env.get("PATH", "")
    env = {**ctx.env, "PATH": f"{path}:{WSL_LIB_DIR}" if path else WSL_LIB_DIR}
    return ctx.run(*argv, timeout_s=TIMEOUT_S, env=env)


def query_argv(fields: Iterable[str]) -> tuple[str, ...]:
    """The ``--query-gpu`` command line for these fields."""
    return ("nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,nounits")


def rejected_field(run: CommandRun) -> str | None:
    """The field a driver refused (``Field "compute_cap" is not a valid field to query.``), if that is why."""
    match = _REJECTED.search(run.stdout + run.stderr)
    return match.group(1) if match else None


def known_fields(help_text: str) -> frozenset[str]:
    """Field names listed by ``nvidia-smi --help-query-gpu``, aliases included.

    Each entry starts a line with ``"name"``; aliases follow as ``or "other"``
    (``"clocks_event_reasons.active" or "clocks_throttle_reasons.active"``).
    """
    names: set[str] = set()
    for line in help_text.splitlines():
        if line.startswith('"'):
            names.update(_HELP_NAME.findall(line))
    return frozenset(names)


def fields_for(known: frozenset[str]) -> tuple[str, ...]:
    """``QUERY_FIELDS`` restricted to what this driver knows, each under the name it knows it by."""
    fields = []
    for field in QUERY_FIELDS:
        if field in known:
            fields.append(field)
            continue
        for new, old in RENAMED_FIELDS.items():
            renamed = old + field[len(new) :] if field.startswith(new) else None
            if renamed and renamed in known:
                fields.append(renamed)
    return tuple(fields)


def _broken(run: CommandRun) -> bool:
    """Whether more nvidia-smi calls are pointless: missing, hung, or not startable."""
    return run.not_found or run.timed_out or run.error is not None


def _queries(ctx: CollectContext, first: CommandRun) -> Iterator[CommandRun]:
    """Retries of a query a driver refused for an unknown field, ending at the first that succeeds."""
    fields: tuple[str, ...] = QUERY_FIELDS
    run = first
    help_run = _run(ctx, HELP_ARGV)
    yield help_run
    known = known_fields(help_run.stdout) if help_run.succeeded else frozenset()
    if known:
        fields = fields_for(known)
        run = _run(ctx, query_argv(fields))
        yield run
    dropped: set[str] = set()
    for _ in range(MAX_DROPS):
        field = rejected_field(run)
        if run.succeeded or field is None or field in dropped or _broken(run):
            return
        dropped.add(field)
        renamed = next(
            (old + field[len(new) :] for new, old in RENAMED_FIELDS.items() if field.startswith(new)), None
        )
        fields = tuple(f if f != field else renamed for f in fields if f != field or renamed)
        if not fields:
            return
        run = _run(ctx, query_argv(fields))
        yield run


@collector("nvidia_smi", timeout_s=20.0)
def collect_nvidia_smi(ctx: CollectContext) -> Iterable[Item]:
    """``nvidia-smi`` CSV query (retried with the fields the driver knows, then the XML) and the table."""
    # NOTE: the table runs beside the query (each can take a second without persistence mode), in a daemon
    # thread: a ThreadPoolExecutor's threads are joined at exit, which would outlive the collector's deadline.
    box: list[CommandRun] = []
    side = threading.Thread(target=lambda: box.append(_run(ctx, TABLE_ARGV)), daemon=True)
    side.start()
    query = _run(ctx, QUERY_ARGV)
    side.join()
    yield query
    yield box[0]
    if _broken(query):
        return
    answered = query.succeeded
    if not answered and rejected_field(query):
        for run in _queries(ctx, query):
            yield run
            answered = answered or (run.succeeded and run.argv[1].startswith("--query-gpu="))
    if not answered:
        xml = _run(ctx, XML_ARGV)
        yield xml
        if not xml.succeeded and not _broken(xml):
            yield _run(ctx, TEXT_ARGV)
