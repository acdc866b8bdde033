"""Evidence source: the ``nvidia-smi`` tool, the fallback when NVML cannot be used from Python.

Command line equivalent: ``nvidia-smi --query-gpu=<fields> --format=csv,nounits``; on an "is not a valid
field" error (older drivers) the same with the legacy field set, then ``nvidia-smi -q -x``; and plain
``nvidia-smi`` for the table header (the only place older drivers print the CUDA version). On WSL2 the tool
lives in ``/usr/lib/wsl/lib``, which is searched after PATH.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

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
    "ecc.errors.uncorrected.volatile.total",
    "retired_pages.pending",
    "temperature.gpu",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
)
"""The ``--query-gpu`` fields gathered; their names are also the keys of NVML readings."""

LEGACY_QUERY_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "driver_version",
    "memory.total",
    "persistence_mode",
    "compute_mode",
    "temperature.gpu",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
)
"""Fields every driver since R384 knows (``compute_cap`` is unknown to R470, ``mig.*`` to pre-R450)."""

QUERY_ARGV = ("nvidia-smi", "--query-gpu=" + ",".join(QUERY_FIELDS), "--format=csv,nounits")
LEGACY_QUERY_ARGV = ("nvidia-smi", "--query-gpu=" + ",".join(LEGACY_QUERY_FIELDS), "--format=csv,nounits")
XML_ARGV = ("nvidia-smi", "-q", "-x")
TABLE_ARGV = ("nvidia-smi",)
WSL_LIB_DIR = "/usr/lib/wsl/lib"
TIMEOUT_S = 8.0
"""nvidia-smi can take seconds on a many-GPU host without persistence mode; a wedged driver takes forever.
With ``--timeout`` each call is cut to what is left of the overall deadline (``ctx.run``)."""


def _run(ctx: CollectContext, argv: tuple[str, ...]) -> CommandRun:
    path = ctx.env.get("PATH", "")
    env = {**ctx.env, "PATH": f"{path}:{WSL_LIB_DIR}" if path else WSL_LIB_DIR}
    return ctx.run(*argv, timeout_s=TIMEOUT_S, env=env)


def _usable(run: CommandRun) -> bool:
    """Whether a run is worth following with more nvidia-smi calls (not missing, hung or driverless)."""
    return run.succeeded or "is not a valid field" in (run.stdout + run.stderr)


@collector("nvidia_smi", timeout_s=20.0)
def collect_nvidia_smi(ctx: CollectContext) -> Iterable[Item]:
    """``nvidia-smi`` CSV query (falling back to legacy fields and XML) and the table header."""
    # NOTE: the table runs beside the query (each can take a second without persistence mode), in a daemon
    # thread: a ThreadPoolExecutor's threads are joined at exit, which would outlive the collector's deadline.
    box: list[CommandRun] = []
    side = threading.Thread(target=lambda: box.append(_run(ctx, TABLE_ARGV)), daemon=True)
    side.start()
    query = _run(ctx, QUERY_ARGV)
    side.join()
    table = box[0]
    yield query
    if not _usable(query):
        return
    if not query.succeeded:
        legacy = _run(ctx, LEGACY_QUERY_ARGV)
        yield legacy
        if not legacy.succeeded:
            yield _run(ctx, XML_ARGV)
    yield table
