"""Evidence source: the process environment and the signs of running inside a container.

Command line equivalent: ``env``; ``cat /proc/1/cgroup``; ``ls /.dockerenv /run/.containerenv``.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")
"""Files that Docker and Podman create at the root of a container."""


@collector("env", timeout_s=2.0)
def collect_environment(ctx: CollectContext) -> Iterable[Item]:
    """The environment variables the probes run with (secrets are redacted by the registry)."""
    yield Value(name="env", data=dict(ctx.env))


@collector("container_markers", timeout_s=2.0)
def collect_container_markers(ctx: CollectContext) -> Iterable[Item]:
    """Files that reveal a container: /.dockerenv, /run/.containerenv, PID 1's cgroup."""
    yield Value(name="container_markers", data={p: ctx.sysroot.exists(p) for p in CONTAINER_MARKERS})
    yield ctx.read("/proc/1/cgroup")
