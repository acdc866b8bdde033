"""Evidence source: Container Device Interface (CDI) spec files and the hook executables they name.

Command line equivalent: ``ls /etc/cdi /var/run/cdi``; ``cat /etc/cdi/*.yaml /etc/cdi/*.json``;
``ls -l <hooks[].path>``. Directories named by ``cdi-spec-dirs`` in daemon.json are listed too, and the
per-user directories a rootless dockerd reads (``$XDG_CONFIG_HOME/cdi``, ``$XDG_RUNTIME_DIR/cdi``;
knowledge table ``container``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector
from gpucheck.collect.sources.docker_config import SYSTEM_DAEMON_JSON, rootless_daemon_json
from gpucheck.knowledge import load

DEFAULT_SPEC_DIRS: tuple[str, ...] = ("/etc/cdi", "/var/run/cdi")
"""Where the CDI library looks by default (``/var/run/cdi`` is cleared at boot)."""

SPEC_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")


def configured_spec_dirs(ctx: CollectContext) -> list[str]:
    """``cdi-spec-dirs`` from the daemon.json files, leniently (an unreadable file names none)."""
    dirs: list[str] = []
    for path in filter(None, (SYSTEM_DAEMON_JSON, rootless_daemon_json(ctx.env))):
        read = ctx.read(path)
        try:
            data = json.loads(read.content or "")
        except (ValueError, RecursionError):
            continue
        listed = data.get("cdi-spec-dirs") if isinstance(data, dict) else None
        if isinstance(listed, list):  # NOTE: a string would be iterated letter by letter, a number crash
            dirs.extend(d for d in listed if isinstance(d, str) and d.startswith("/"))
    return dirs


def hook_paths(text: str, name: str) -> list[str]:
    """The ``hooks[].path`` values anywhere in a spec, leniently: a spec that does not load names none."""
    try:
        if name.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml  # NOTE: imported here so a broken PyYAML costs only this lookup

            data = yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - the diagnose stage reports why the spec does not parse
        return []
    found: list[str] = []
    _walk_hooks(data, found)
    return list(dict.fromkeys(found))


def _walk_hooks(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "hooks" and isinstance(value, list):
                paths = (h.get("path") for h in value if isinstance(h, dict))
                found.extend(p for p in paths if isinstance(p, str))
            else:
                _walk_hooks(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk_hooks(value, found)


def rootless_spec_dirs(env: Mapping[str, str]) -> list[str]:
    """The per-user CDI directories a rootless dockerd (>= 29.3) also reads, from the probed environment."""
    home = env.get("HOME")
    values = {
        "XDG_CONFIG_HOME": env.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else None),
        "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR"),
    }
    dirs = []
    for template in load.container_facts()["docker_rootless_cdi_dirs"].value.split():
        variable, _, rest = template.lstrip("$").partition("/")
        if values.get(variable):
            dirs.append(os.path.join(str(values[variable]), rest))
    return dirs


@collector("cdi", timeout_s=5.0)
def collect_cdi(ctx: CollectContext) -> Iterable[Item]:
    """CDI spec directories, each spec file's text, and whether each hook executable exists."""
    dirs = list(dict.fromkeys([*DEFAULT_SPEC_DIRS, *configured_spec_dirs(ctx), *rootless_spec_dirs(ctx.env)]))
    hooks: dict[str, bool] = {}
    for directory in dirs:
        listing = ctx.listdir(directory)
        yield listing
        for entry in listing.entries:
            if not entry.endswith(SPEC_SUFFIXES):
                continue
            read = ctx.read(f"{directory.rstrip('/')}/{entry}")
            yield read
            for path in hook_paths(read.content or "", entry):
                hooks[path] = ctx.sysroot.is_executable(path)
    yield Value(name="cdi_spec_dirs", data={"dirs": dirs, "hook_executables": hooks})
