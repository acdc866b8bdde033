"""Evidence source: Docker's daemon configuration files, and where the runtimes they name resolve.

Command line equivalent: ``cat /etc/docker/daemon.json ~/.config/docker/daemon.json``;
``which <runtimes.*.path>``. Rootless dockerd reads ``$XDG_CONFIG_HOME/docker/daemon.json`` (default
``~/.config/docker/daemon.json``), with HOME and XDG_CONFIG_HOME taken from the probed environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from gpucheck.collect.evidence import FileRead, Item, Value
from gpucheck.collect.registry import CollectContext, collector
from gpucheck.collect.sources.container_toolkit import lookup_executable, search_dirs

SYSTEM_DAEMON_JSON = "/etc/docker/daemon.json"
"""Where rootful dockerd reads its configuration (``dockerd --config-file`` default)."""


def rootless_daemon_json(env: Mapping[str, str]) -> str | None:
    """The rootless dockerd configuration path for this environment, or None without HOME/XDG_CONFIG_HOME."""
    home = env.get("HOME")
    config_home = env.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else None)
    return os.path.join(config_home, "docker", "daemon.json") if config_home else None


def runtime_paths(read: FileRead) -> list[str]:
    """The ``runtimes.*.path`` strings of a daemon.json, leniently (an unreadable file names none)."""
    try:
        data = json.loads(read.content or "")
    except (ValueError, RecursionError):
        return []
    runtimes = data.get("runtimes") if isinstance(data, dict) else None
    if not isinstance(runtimes, dict):
        return []
    paths = (spec.get("path") for spec in runtimes.values() if isinstance(spec, dict))
    return [p for p in paths if isinstance(p, str)]


@collector("docker_config", timeout_s=5.0)
def collect_docker_config(ctx: CollectContext) -> Iterable[Item]:
    """/etc/docker/daemon.json and the rootless daemon.json, and the runtime executables they name."""
    paths = [SYSTEM_DAEMON_JSON]
    rootless = rootless_daemon_json(ctx.env)
    if rootless:
        paths.append(rootless)
    reads = [ctx.read(path) for path in paths]
    yield from reads
    wanted = dict.fromkeys(p for read in reads for p in runtime_paths(read))
    yield Value(
        name="docker_config_paths",
        data={
            "system": SYSTEM_DAEMON_JSON,
            "rootless": rootless,
            "search_path": search_dirs(ctx),
            "runtime_executables": {p: lookup_executable(ctx, p) for p in wanted if p},
        },
    )
