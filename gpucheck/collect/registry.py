"""The collector contract and the concurrent runner.

A collector is a function ``(ctx: CollectContext) -> Iterable[Item]`` registered with ``@collector(name,
timeout_s=...)`` in one module of ``gpucheck.collect.sources``. It gathers raw evidence only: it does not
interpret it. It should not raise (use ``ctx.run`` / ``ctx.read``, which never do); if it raises anyway or
runs past its timeout, ``collect`` records that in ``Evidence.collectors`` and every check that needs it
reports an ``error`` finding quoting the reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpucheck import __version__
from gpucheck.collect.evidence import CollectorStatus, CommandRun, DirListing, Evidence, FileRead, Item, Value
from gpucheck.collect.redact import redact_environment, scrub_item
from gpucheck.collect.run import run_command
from gpucheck.collect.sysroot import Sysroot
from gpucheck.outcome import run_all_with_deadlines

SOURCE_MODULES: tuple[str, ...] = (
    "gpucheck.collect.sources.environ",
    "gpucheck.collect.sources.procfs",
    "gpucheck.collect.sources.nvml",
    "gpucheck.collect.sources.nvidia_smi",
    "gpucheck.collect.sources.toolkit",
    "gpucheck.collect.sources.libraries",
    "gpucheck.collect.sources.wsl",
    "gpucheck.collect.sources.frameworks",
    "gpucheck.collect.sources.container_toolkit",
    "gpucheck.collect.sources.docker_config",
    "gpucheck.collect.sources.docker_daemon",
    "gpucheck.collect.sources.cdi",
    "gpucheck.collect.sources.host",
    "gpucheck.collect.sources.devices",
    "gpucheck.collect.sources.pci",
    "gpucheck.collect.sources.kernel_log",
    "gpucheck.collect.sources.toolkit_config",
    "gpucheck.collect.sources.slurm",
)
"""Every module that registers collectors, in the order their evidence is listed."""


COMMAND_MARGIN_S = 0.5
"""With ``--timeout``, commands are stopped this long before the collectors running them are abandoned."""


@dataclass(frozen=True, slots=True)
class CollectContext:
    """What a collector may use: the sysroot for files, the environment for commands, and run options."""

    sysroot: Sysroot = field(default_factory=Sysroot)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    python: str = ""
    """The interpreter whose frameworks are probed (``--python``); empty means the one running gpucheck."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Per-run options collectors may read (``container_smoke``, ``tf_logical_gpus`` ...)."""
    deadline: float | None = None
    """``time.perf_counter()`` value by which every command must end (``--timeout``); None for no limit."""

    def run(
        self,
        *argv: str,
        timeout_s: float = 10.0,
        stdin_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandRun:
        """Run a command with this context's environment (or ``env``), within the overall deadline."""
        if self.deadline is not None:
            # NOTE: clamp here, not only at the collector: an abandoned collector leaves its child running.
            timeout_s = max(0.1, min(timeout_s, self.deadline - time.perf_counter()))
        return run_command(
            argv, timeout_s=timeout_s, env=self.env if env is None else env, stdin_text=stdin_text
        )

    def read(self, path: str) -> FileRead:
        """Read a host file under the sysroot."""
        return self.sysroot.read(path)

    def listdir(self, path: str) -> DirListing:
        """List a host directory under the sysroot."""
        return self.sysroot.listdir(path)

    def glob(self, pattern: str) -> DirListing:
        """Glob host paths under the sysroot."""
        return self.sysroot.glob(pattern)


CollectFunc = Callable[[CollectContext], Iterable[Item]]


@dataclass(frozen=True, slots=True)
class Collector:
    """A registered collector."""

    name: str
    func: CollectFunc
    timeout_s: float
    description: str


COLLECTORS: dict[str, Collector] = {}


def collector(name: str, *, timeout_s: float = 10.0) -> Callable[[CollectFunc], CollectFunc]:
    """Register a collector under ``name``; its docstring's first line describes it."""

    def register(func: CollectFunc) -> CollectFunc:
        if name in COLLECTORS and COLLECTORS[name].func is not func:
            raise ValueError(f"collector {name!r} registered twice")
        doc = (func.__doc__ or name).strip().splitlines()[0]
        COLLECTORS[name] = Collector(name=name, func=func, timeout_s=timeout_s, description=doc)
        return func

    return register


def load_sources() -> dict[str, Collector]:
    """Import every source module (registering its collectors) and return the registry."""
    for module in SOURCE_MODULES:
        importlib.import_module(module)
    return COLLECTORS


def collect(
    ctx: CollectContext, names: Iterable[str] | None = None, *, overall_timeout_s: float | None = None
) -> Evidence:
    """Run the named collectors (all when None) concurrently and return their redacted evidence."""
    registry = load_sources()
    wanted = [registry[n] for n in (names if names is not None else registry)]
    if overall_timeout_s is not None:
        # Commands end a little before their collector is abandoned, so what they printed is still kept.
        margin = min(COMMAND_MARGIN_S, overall_timeout_s / 4)
        ctx = dataclasses.replace(ctx, deadline=time.perf_counter() + overall_timeout_s - margin)
    calls = {
        c.name: ((lambda c=c: list(c.func(ctx))), min(c.timeout_s, overall_timeout_s or c.timeout_s))
        for c in wanted
    }
    started = time.time()
    outcomes = run_all_with_deadlines(calls)
    redacted_env, secrets = redact_environment(ctx.env)
    evidence = Evidence(meta=_meta(ctx, started))
    for c in wanted:
        outcome = outcomes[c.name]
        evidence.collectors[c.name] = CollectorStatus(
            name=c.name,
            ok=outcome.ok,
            duration_s=round(outcome.duration_s, 4),
            error=outcome.error,
            timed_out=outcome.timed_out,
        )
        evidence.add(scrub_item(item, secrets) for item in (outcome.value or ()))
    if "env" in evidence.items:
        evidence.add([Value(name="env", data=redacted_env)])
    return evidence


def _meta(ctx: CollectContext, started: float) -> dict[str, Any]:
    return {
        "gpucheck_version": __version__,
        "hostname": platform.node(),
        "platform": platform.platform(),
        "sysroot": ctx.sysroot.root,
        "started": round(started, 3),
        "python": ctx.python or "",
    }
